import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { CALICO_API_VERSION } from '../../lib/contract.js';
import { validateResource } from './index.js';

const EXAMPLES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples');
const docs = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) => parseAllDocuments(readFileSync(join(EXAMPLES, f), 'utf8')).map((d, i) => [`${f}#${i + 1}`, d.toJS() as Record<string, unknown>] as const));

describe('stored objects', () => {
  it('finds example documents to check', () => {
    expect(docs.length).toBeGreaterThanOrEqual(6);
  });

  // What apply stores is read back and validated by every consumer: it must
  // validate again, unchanged (defaults are a fixed point).
  it.each(docs)('%s validates again unchanged after its defaults are applied', (_name, doc) => {
    const first = validateResource(doc);
    if (!first.ok) throw new Error('example refused');
    const second = validateResource(JSON.parse(JSON.stringify(first.object)));
    expect(second.ok && second.object).toEqual(first.object);
  });

  it.each(docs.filter(([, d]) => d.apiVersion === 'crd.tortie.dev/v1'))('%s is accepted as projectcalico.org/v3 too', (_name, doc) => {
    const asCalico = validateResource({ ...doc, apiVersion: CALICO_API_VERSION });
    const asTortie = validateResource(doc);
    expect(asCalico).toEqual(asTortie);
  });
});
