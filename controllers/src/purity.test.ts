import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** STYLE.md §2: the pure core imports no I/O and reads no process state. */
const here = dirname(fileURLToPath(import.meta.url));
const PURE = ['ipam-gc/find-leaks.ts', 'ipam-gc/snapshot.ts', 'node-cleanup/plan.ts', 'runtime/queue.ts'];
const EFFECTFUL = /from ['"](node:)?(fs|fs\/promises|child_process|net|http|https|dgram)['"]|from ['"](execa|etcd3|@kubernetes\/client-node|pino)['"]|block-store\.js|datastore\/(etcd|kubernetes|memory)\.js/;

describe('pure modules of the controllers', () => {
  it.each(PURE)('%s imports nothing that does I/O', (file) => {
    // Type-only imports vanish at compile time: they bring no effect along.
    const source = readFileSync(join(here, file), 'utf8').replace(/^import type .*$/gm, '');
    expect(source).not.toMatch(EFFECTFUL);
    expect(source).not.toMatch(/process\.(env|exit|stdout|stderr)|Date\.now\(\)|Math\.random\(\)/);
  });
});
