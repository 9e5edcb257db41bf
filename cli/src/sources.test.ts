import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listResourceFiles, readSources } from './sources.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tortie-cli-sources-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const noStdin = async () => {
  throw new Error('stdin was not asked for');
};

describe('readSources', () => {
  it('reads a directory\'s yaml, yml and json files sorted by name, and skips subdirectories without -R', async () => {
    await writeFile(join(dir, 'b.yaml'), 'kind: B\n');
    await writeFile(join(dir, 'a.json'), '{"kind": "A"}');
    await writeFile(join(dir, 'c.yml'), 'kind: C\n');
    await writeFile(join(dir, 'notes.txt'), 'not a resource');
    await mkdir(join(dir, 'invalid'));
    await writeFile(join(dir, 'invalid', 'z.yaml'), 'kind: Z\n');
    const { documents, problems } = await readSources([dir], { recursive: false, readStdin: noStdin });
    expect(problems).toEqual([]);
    expect(documents.map((d) => (d.value as { kind: string }).kind)).toEqual(['A', 'B', 'C']);
    expect(documents[0]?.source).toBe(join(dir, 'a.json'));
  });

  it('with -R also reads subdirectories, in name order', async () => {
    await writeFile(join(dir, 'b.yaml'), 'kind: B\n');
    await mkdir(join(dir, 'a'));
    await writeFile(join(dir, 'a', 'x.yaml'), 'kind: AX\n');
    expect(await listResourceFiles(dir, true)).toEqual([join(dir, 'a', 'x.yaml'), join(dir, 'b.yaml')]);
  });

  it('reads - from stdin, in the order the -f flags were given', async () => {
    await writeFile(join(dir, 'f.yaml'), 'kind: F\n');
    const { documents } = await readSources([join(dir, 'f.yaml'), '-'], { recursive: false, readStdin: async () => 'kind: S\n' });
    expect(documents.map((d) => [d.source, (d.value as { kind: string }).kind])).toEqual([
      [join(dir, 'f.yaml'), 'F'],
      ['<stdin>', 'S'],
    ]);
  });

  it('a path that does not exist is ERR_VALIDATION naming it', async () => {
    await expect(readSources([join(dir, 'missing.yaml')], { recursive: false, readStdin: noStdin })).rejects.toMatchObject({
      code: 'ERR_VALIDATION',
      message: `${join(dir, 'missing.yaml')}: no such file or directory`,
    });
  });

  it('a directory without resource files is a problem, not a silent no-op', async () => {
    const { problems } = await readSources([dir], { recursive: false, readStdin: noStdin });
    expect(problems).toEqual([{ source: dir, message: 'has no *.yaml, *.yml or *.json files (use -R for subdirectories)' }]);
  });
});
