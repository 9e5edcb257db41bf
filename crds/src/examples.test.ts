import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { formatIssues, validateResource } from './index.js';

const EXAMPLES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples');
const INVALID = join(EXAMPLES, 'invalid');

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort();
}

/** Every document of a file, parsed; a YAML syntax error fails the test that reads it. */
function documents(path: string): unknown[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${path} document ${i + 1}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS() as unknown;
  });
}

/** The `# expect: <fragment>` lines at the top of an invalid example. */
function expectations(path: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.startsWith('#')) break;
    const m = /^# expect: (.+)$/.exec(line);
    if (m?.[1] !== undefined) out.push(m[1]);
  }
  return out;
}

const validFiles = yamlFiles(EXAMPLES);
const invalidFiles = yamlFiles(INVALID);

describe('examples/', () => {
  it('the globs find the examples (a test over zero files is a bug)', () => {
    expect(validFiles.length).toBeGreaterThanOrEqual(6);
    expect(invalidFiles.length).toBeGreaterThanOrEqual(7);
  });

  it.each(validFiles)('%s is valid', (file) => {
    const docs = documents(join(EXAMPLES, file));
    expect(docs.length).toBeGreaterThan(0);
    docs.forEach((doc, i) => {
      const result = validateResource(doc);
      if (!result.ok) throw new Error(`${file} document ${i + 1} is refused:\n${formatIssues(result.issues)}`);
    });
  });

  it.each(invalidFiles)('invalid/%s is refused with its expected message', (file) => {
    const path = join(INVALID, file);
    const expected = expectations(path);
    expect(expected.length, `${file} needs a "# expect: ..." line at the top`).toBeGreaterThan(0);
    const reported = documents(path)
      .map((doc) => validateResource(doc))
      .map((r) => (r.ok ? '' : formatIssues(r.issues)))
      .join('\n');
    expect(reported, `${file} was accepted`).not.toBe('');
    for (const fragment of expected) expect(reported).toContain(fragment);
  });
});
