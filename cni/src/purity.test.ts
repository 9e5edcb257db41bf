import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// STYLE.md §2: the pure core imports nothing that does I/O. main.ts,
// datastore.ts, ipam/block-store.ts and ipam/commands.ts are the effectful shell.
const PURE = ['request.ts', 'result.ts', 'version.ts', 'errors.ts', 'ipam/allocate.ts', 'ipam/plan.ts', 'install/config.ts', 'install/network-config.ts', 'install/kubeconfig.ts'];
const FORBIDDEN = /^(node:|execa$|@kubernetes\/|etcd3$|pino$)|\/datastore\/(etcd|kubernetes|memory)\.js$|\/log\.js$/;

describe('pure modules', () => {
  it.each(PURE)('%s imports no I/O', (file) => {
    const source = readFileSync(new URL(`./${file}`, import.meta.url), 'utf8');
    const imports = [...source.matchAll(/^import[^;]*?from '([^']+)'/gm)].map((m) => m[1]!);
    expect(imports.length).toBeGreaterThan(0);
    for (const i of imports) expect(i, `${file} imports ${i}`).not.toMatch(FORBIDDEN);
  });
});
