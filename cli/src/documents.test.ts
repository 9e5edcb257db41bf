import { describe, expect, it } from 'vitest';
import { describeDocument, describeProblem, formatOf, parseDocuments } from './documents.js';

describe('parseDocuments', () => {
  it('numbers YAML documents from 1 and keeps each one\'s source', () => {
    const text = 'kind: IPPool\nmetadata: {name: a}\n---\nkind: BGPPeer\nmetadata: {name: b}\n';
    const { documents, problems } = parseDocuments(text, 'pools.yaml');
    expect(problems).toEqual([]);
    expect(documents.map((d) => [d.source, d.index])).toEqual([
      ['pools.yaml', 1],
      ['pools.yaml', 2],
    ]);
    expect(documents[1]?.value).toEqual({ kind: 'BGPPeer', metadata: { name: 'b' } });
  });

  it('skips empty documents but keeps the numbering of the ones after them', () => {
    const { documents } = parseDocuments('---\n---\nkind: A\n---\n', 'x.yaml');
    expect(documents.map((d) => d.index)).toEqual([2]);
  });

  it('an empty file has no documents and no problems', () => {
    expect(parseDocuments('', 'empty.yaml')).toEqual({ documents: [], problems: [] });
    expect(parseDocuments('# only a comment\n', 'c.yaml')).toEqual({ documents: [], problems: [] });
  });

  it('expands a List into its items, numbered within the document', () => {
    const text = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ kind: 'A' }, { kind: 'B' }] });
    const { documents } = parseDocuments(text, 'list.json');
    expect(documents.map((d) => [d.index, d.item, d.value])).toEqual([
      [1, 1, { kind: 'A' }],
      [1, 2, { kind: 'B' }],
    ]);
  });

  it('reports YAML that does not parse with its document number, line and column', () => {
    const { documents, problems } = parseDocuments('kind: A\n---\nkind: [B\n', 'bad.yaml');
    expect(documents).toHaveLength(1);
    expect(problems).toHaveLength(1);
    expect(problems[0]?.index).toBe(2);
    expect(problems[0]?.message).toMatch(/^not valid YAML: .*line \d+, column \d+/);
  });

  it('reports a duplicate key rather than silently keeping one', () => {
    const { problems } = parseDocuments('kind: A\nkind: B\n', 'dup.yaml');
    expect(problems[0]?.message).toMatch(/not valid YAML/);
  });

  it('reports JSON that does not parse', () => {
    const { problems } = parseDocuments('{"kind": ', 'bad.json');
    expect(problems).toEqual([{ source: 'bad.json', index: 1, message: expect.stringMatching(/^not valid JSON: /) }]);
  });

  it.each([
    ['- a\n- b\n', 'an array'],
    ['hello\n', 'a string'],
    ['42\n', '42'],
  ])('refuses a document that is not an object: %j', (text, what) => {
    const { problems } = parseDocuments(text, 'x.yaml');
    expect(problems[0]?.message).toBe(`is ${what}, not a resource object (apiVersion, kind, metadata, spec)`);
  });

  it('reads JSON given on stdin (YAML is a superset)', () => {
    const { documents } = parseDocuments('{"kind": "IPPool", "metadata": {"name": "p"}}', '<stdin>', 'yaml');
    expect(documents[0]?.value).toEqual({ kind: 'IPPool', metadata: { name: 'p' } });
  });
});

describe('describing documents', () => {
  it.each([
    [{ source: 'f.yaml', index: 3, value: { kind: 'IPPool', metadata: { name: 'p' } } }, 'f.yaml: document 3 (IPPool/p)'],
    [{ source: 'f.yaml', index: 1, item: 2, value: { kind: 'BGPPeer' } }, 'f.yaml: document 1, item 2 (BGPPeer/?)'],
    [{ source: '<stdin>', index: 1, value: { spec: {} } }, '<stdin>: document 1'],
  ])('%j is %s', (document, text) => {
    expect(describeDocument(document)).toBe(text);
  });

  it('a problem without a document number names only the source', () => {
    expect(describeProblem({ source: 'dir', message: 'has no files' })).toBe('dir: has no files');
    expect(describeProblem({ source: 'a.yaml', index: 2, message: 'bad' })).toBe('a.yaml: document 2: bad');
  });

  it.each([
    ['a.json', 'json'],
    ['A.JSON', 'json'],
    ['a.yaml', 'yaml'],
    ['a.yml', 'yaml'],
    ['<stdin>', 'yaml'],
  ])('%s is read as %s', (source, format) => {
    expect(formatOf(source)).toBe(format);
  });
});
