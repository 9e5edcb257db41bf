import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// STYLE.md §2: the pure core imports no process, socket, file or cluster I/O.
const FORBIDDEN = ['node:child_process', 'node:net', 'node:fs', 'node:fs/promises', 'child_process', 'fs', 'net', 'execa', '@kubernetes/client-node', 'etcd3'];
const root = fileURLToPath(new URL('./', import.meta.url));
const files = ['calc', 'render', 'model'].flatMap((dir) =>
  readdirSync(`${root}${dir}`)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.test-helpers.ts'))
    .map((f) => `${dir}/${f}`),
);

describe('the pure core', () => {
  it('has files to check', () => {
    expect(files.length).toBeGreaterThan(10);
  });

  it.each(files)('%s imports no I/O module', (file) => {
    const text = readFileSync(`${root}${file}`, 'utf8');
    const imported = [...text.matchAll(/(?:from|import)\s+['"]([^'"]+)['"]/g)].map((m) => m[1]!);
    expect(imported.filter((m) => FORBIDDEN.includes(m))).toEqual([]);
  });
});
