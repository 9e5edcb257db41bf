import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { tortieKinds } from '../../lib/datastore/kinds.js';
import { crdFileName, renderCrd, renderCrdFiles } from './crd.js';
import { CRD_DIR } from './generate.js';
import { findStructuralProblems } from './structural.js';

describe('generated CRDs', () => {
  it('the committed manifests/crds/ is what `npm run generate` writes', () => {
    const expected = renderCrdFiles();
    const committed = readdirSync(CRD_DIR).filter((f) => f.endsWith('.yaml'));
    const stale = committed.filter((f) => !expected.has(f));
    const differing = [...expected.keys()].filter((f) => {
      try {
        return readFileSync(join(CRD_DIR, f), 'utf8') !== expected.get(f);
      } catch {
        // A missing file counts as differing; the assertion below names it.
        return true;
      }
    });
    expect({ differing, stale }, 'manifests/crds/ is out of date: run npm run generate').toEqual({ differing: [], stale: [] });
  });

  it('has one CRD per tortie kind', () => {
    expect(tortieKinds.length).toBe(13);
    for (const kind of tortieKinds) expect(renderCrdFiles().has(crdFileName(kind))).toBe(true);
  });

  it.each(tortieKinds.map((k) => [k.kind, k] as const))('%s has a structural schema', (_name, kind) => {
    const crd = renderCrd(kind) as { spec: { versions: { schema: { openAPIV3Schema: unknown } }[] } };
    const schema = crd.spec.versions[0]?.schema.openAPIV3Schema;
    expect(findStructuralProblems(schema)).toEqual([]);
    const text = JSON.stringify(schema);
    for (const forbidden of ['"$ref"', '"definitions"', '"$defs"', '"$schema"', '"additionalProperties":false']) expect(text).not.toContain(forbidden);
  });

  it('describes every field (kubectl explain text)', () => {
    const undocumented: string[] = [];
    const walk = (node: Record<string, unknown>, path: string, isRoot = false) => {
      const props = node.properties as Record<string, Record<string, unknown>> | undefined;
      for (const [name, child] of Object.entries(props ?? {})) {
        const p = `${path}.${name}`;
        if (isRoot && name === 'metadata') continue;
        if (typeof child.description !== 'string' || child.description === '') undocumented.push(p);
        walk(child, p);
        if (typeof child.items === 'object' && child.items !== null) walk(child.items as Record<string, unknown>, `${p}[]`);
      }
    };
    for (const kind of tortieKinds) {
      const crd = renderCrd(kind) as { spec: { versions: { schema: { openAPIV3Schema: Record<string, unknown> } }[] } };
      const schema = crd.spec.versions[0]?.schema.openAPIV3Schema;
      if (schema !== undefined) walk(schema, kind.kind, true);
    }
    expect(undocumented).toEqual([]);
  });

  it('renders int-or-string fields (ports, protocols, AS numbers) as x-kubernetes-int-or-string', () => {
    const gnp = JSON.stringify(renderCrd(tortieKinds.find((k) => k.kind === 'BGPPeer')!));
    expect(gnp).toContain('"asNumber":{"description":"AS number of the peer (asplain, or asdot \\"1.10\\"). Required with peerIP.","x-kubernetes-int-or-string":true}');
  });

  it('the committed files parse as CustomResourceDefinitions with printer columns', () => {
    const crd = parse(readFileSync(join(CRD_DIR, 'crd.tortie.dev_ippools.yaml'), 'utf8')) as {
      kind: string;
      spec: { scope: string; names: { shortNames: string[]; categories: string[] }; versions: { additionalPrinterColumns: { name: string }[] }[] };
    };
    expect(crd.kind).toBe('CustomResourceDefinition');
    expect(crd.spec.scope).toBe('Cluster');
    expect(crd.spec.names.categories).toEqual(['tortie']);
    expect(crd.spec.versions[0]?.additionalPrinterColumns.map((c) => c.name)).toEqual(['CIDR', 'Block Size', 'IPIP', 'VXLAN', 'NAT', 'Disabled', 'Node Selector', 'Age']);
  });
});

describe('findStructuralProblems', () => {
  it.each([
    [{ type: 'object', properties: { a: { anyOf: [{ type: 'string' }, { type: 'integer' }] } } }, 'anyOf is not structural'],
    [{ type: 'object', properties: { a: { type: 'object', additionalProperties: false } } }, 'additionalProperties: false'],
    [{ type: 'object', properties: { a: { properties: {} } } }, 'properties.a: no type'],
    [{ type: 'object', properties: { a: { $ref: '#/definitions/x' } } }, 'unknown keyword $ref'],
    [{ type: 'object', properties: { metadata: { type: 'object', properties: { name: { type: 'string' } } } } }, 'metadata: may only say type: object'],
  ])('catches %j', (schema, problem) => {
    expect(findStructuralProblems(schema).join('\n')).toContain(problem);
  });
});
