import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * STYLE.md §2: pure modules import no I/O. These are the CLI's pure parts;
 * their behaviour is unit-tested without files, processes or a datastore.
 */
const here = dirname(fileURLToPath(import.meta.url));
const PURE = ['columns.ts', 'documents.ts', 'exit-codes.ts', 'kind-names.ts', 'output.ts', 'plan-write.ts', 'resources.ts', 'table.ts'];
const EFFECTFUL = /from ['"](node:)?(fs|fs\/promises|child_process|net|http|https|dgram)['"]|from ['"](execa|etcd3|@kubernetes\/client-node)['"]/;

describe('pure modules of the CLI', () => {
  it.each(PURE)('%s imports nothing that does I/O', (file) => {
    const source = readFileSync(join(here, file), 'utf8');
    expect(source).not.toMatch(EFFECTFUL);
    expect(source).not.toMatch(/process\.(env|exit|stdout|stderr)/);
  });
});
