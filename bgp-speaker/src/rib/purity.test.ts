import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// STYLE.md §2: rib/, source/ and program/ are pure (no process, socket, file or cluster I/O),
// and the kernel is one more consumer of the RIB: rib/ never imports program/.
const FORBIDDEN = ['node:child_process', 'node:net', 'node:fs', 'node:fs/promises', 'node:dgram', 'child_process', 'fs', 'net', 'execa', '@kubernetes/client-node', 'etcd3'];
const root = fileURLToPath(new URL('../', import.meta.url));
const files = ['rib', 'source', 'program'].flatMap((dir) =>
  readdirSync(`${root}${dir}`)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.test-helpers.ts'))
    .map((f) => `${dir}/${f}`),
);
const importsOf = (file: string): string[] => [...readFileSync(`${root}${file}`, 'utf8').matchAll(/(?:from|import)\s+['"]([^'"]+)['"]/g)].map((m) => m[1]!);

describe('the RIB and route planning core', () => {
  it('has files to check', () => {
    expect(files.length).toBeGreaterThanOrEqual(9);
  });

  it.each(files)('%s imports no I/O module', (file) => {
    expect(importsOf(file).filter((m) => FORBIDDEN.includes(m))).toEqual([]);
  });

  it.each(files.filter((f) => f.startsWith('rib/')))('%s does not import program/ or source/', (file) => {
    expect(importsOf(file).filter((m) => m.includes('/program/') || m.includes('/source/'))).toEqual([]);
  });
});
