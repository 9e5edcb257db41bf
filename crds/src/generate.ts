/**
 * `npm run generate`: writes manifests/crds/ from the zod schemas and removes
 * generated files of kinds that no longer exist. crds/src/generate.test.ts
 * fails when the committed files differ from what this would write.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderCrdFiles } from './crd.js';

export const CRD_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'manifests', 'crds');

function main(): void {
  const files = renderCrdFiles();
  mkdirSync(CRD_DIR, { recursive: true });
  for (const existing of readdirSync(CRD_DIR)) {
    if (existing.endsWith('.yaml') && !files.has(existing)) rmSync(join(CRD_DIR, existing));
  }
  for (const [name, content] of files) writeFileSync(join(CRD_DIR, name), content);
  process.stdout.write(`wrote ${files.size} files to ${CRD_DIR}\n`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();
