import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** STYLE.md §2: the configuration calculation is pure (main.ts is its only effectful caller). */
const here = dirname(fileURLToPath(import.meta.url));
const FORBIDDEN = /from ['"](node:[a-z_/]+|net|fs|child_process|dgram|execa|@kubernetes\/client-node|etcd3|pino)['"]|from ['"][./]+\/(session|lib\/kernel|lib\/datastore\/(etcd|kubernetes))[^'"]*['"]/;
const files = readdirSync(here).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));

describe('bgp-speaker/src/config is pure', () => {
  it('finds the modules', () => {
    expect(files).toEqual(expect.arrayContaining(['peers.ts', 'desired.ts', 'status-file.ts']));
  });
  it.each(files)('%s imports no I/O module', (file) => {
    expect(readFileSync(join(here, file), 'utf8')).not.toMatch(FORBIDDEN);
  });
});
