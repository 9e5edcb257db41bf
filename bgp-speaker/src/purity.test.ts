/** STYLE.md §2: the pure core imports no I/O. A reviewer checks it too. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('.', import.meta.url));
const PURE_DIRS = ['codec', 'fsm'];
const FORBIDDEN = /from ['"](node:[a-z_/]+|net|fs|child_process|dgram|execa|@kubernetes\/client-node|etcd3|pino)['"]/;

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
    .map((e) => join(e.parentPath, e.name))
    .filter((p) => !p.includes(`${join('codec', 'fixtures')}`)); // test-only fixture reader
}

describe('pure core', () => {
  const files = PURE_DIRS.flatMap(sources);

  it('finds the sources', () => {
    expect(files.length).toBeGreaterThan(20);
  });

  it.each(files.map((f) => [f.slice(root.length)]))('%s imports no I/O module', (file) => {
    expect(readFileSync(join(root, file), 'utf8')).not.toMatch(FORBIDDEN);
  });
});
