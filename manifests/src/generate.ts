/**
 * `npm run generate` (after crds/src/generate.ts): writes manifests/tortie.yaml
 * from its parts. manifests/src/tortie-yaml.test.ts fails when the committed
 * file differs from what this would write.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderCrdFiles } from '../../crds/src/crd.js';
import { renderTortieYaml, type ManifestParts } from './tortie-yaml.js';

export const MANIFESTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
export const TORTIE_YAML = join(MANIFESTS_DIR, 'tortie.yaml');

/** The parts as they are in this checkout: package.json's version, the CRDs from crds/src, manifests/rbac-*.yaml. */
export function readManifestParts(): ManifestParts {
  const version = (JSON.parse(readFileSync(join(MANIFESTS_DIR, '..', 'package.json'), 'utf8')) as { version: string }).version;
  const rbacFiles = new Map<string, string>();
  for (const file of existsSync(MANIFESTS_DIR) ? readdirSync(MANIFESTS_DIR).sort() : []) {
    if (/^rbac-.*\.ya?ml$/.test(file)) rbacFiles.set(file, readFileSync(join(MANIFESTS_DIR, file), 'utf8'));
  }
  return { version, crdFiles: renderCrdFiles(), rbacFiles };
}

function main(): void {
  writeFileSync(TORTIE_YAML, renderTortieYaml(readManifestParts()));
  process.stdout.write(`wrote ${TORTIE_YAML}\n`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();
