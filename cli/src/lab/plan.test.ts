import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseResource } from '../../../crds/src/index.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import { birdConfig, cell, cidrContains, diffMatrix, expectedAfterPolicy, labNodes, labPods, labResources, pairs, renderMatrix } from './plan.js';

describe('lab plan', () => {
  const nodes = labNodes(2);
  const pods = labPods(nodes);

  it('is pure (STYLE.md §2)', () => {
    const source = readFileSync(fileURLToPath(new URL('./plan.ts', import.meta.url)), 'utf8');
    expect(source).not.toMatch(/from ['"](node:)?(fs|fs\/promises|child_process|net)['"]|from ['"](execa|etcd3)['"]/);
  });

  it('lays out one link per node, its own AS, two pods per node', () => {
    expect(nodes.map((n) => [n.name, n.netns, n.address, n.torAddress, n.asNumber])).toEqual([
      ['node1', 'tortie-node1', '172.30.1.2', '172.30.1.1', 64513],
      ['node2', 'tortie-node2', '172.30.2.2', '172.30.2.1', 64514],
    ]);
    expect(pods.map((p) => `${p.netns} ${p.labels['role']}`)).toEqual([
      'tortie-node1-frontend-1 frontend',
      'tortie-node1-backend-1 backend',
      'tortie-node2-frontend-2 frontend',
      'tortie-node2-backend-2 backend',
    ]);
  });

  it('writes only valid tortie resources', () => {
    for (const r of labResources(nodes)) {
      if (!Kinds[r.key].isTortieKind) continue;
      const parsed = parseResource(r.key, r.object);
      expect(parsed.ok, `${r.key} ${r.object.metadata.name}: ${JSON.stringify(parsed)}`).toBe(true);
    }
    expect(labResources(nodes).filter((r) => r.key === 'BGPPeer').map((r) => r.object.spec)).toEqual([
      { node: 'node1', peerIP: '172.30.1.1', asNumber: 65000 },
      { node: 'node2', peerIP: '172.30.2.1', asNumber: 65000 },
    ]);
  });

  it('gives BIRD one eBGP session per node', () => {
    const conf = birdConfig(nodes);
    expect(conf).toContain('protocol bgp node1 {\n  local 172.30.1.1 as 65000;\n  neighbor 172.30.1.2 as 64513;');
    expect(conf).toContain('neighbor 172.30.2.2 as 64514;');
  });

  it('expects the policy to deny exactly non-frontends into backends', () => {
    const denied = pairs(pods).filter(([a, b]) => !expectedAfterPolicy(a, b)).map(([a, b]) => cell(a.name, b.name));
    expect(denied).toEqual(['backend-1->backend-2', 'backend-2->backend-1']);
  });

  it('renders a matrix and its difference', () => {
    const names = ['a', 'b'];
    const before = new Map([[cell('a', 'b'), true], [cell('b', 'a'), true]]);
    const after = new Map([[cell('a', 'b'), false], [cell('b', 'a'), true]]);
    expect(renderMatrix(names, after)).toBe('from \\ to  a          b\na          .          --\nb          ok         .\n');
    expect(diffMatrix(before, after)).toEqual(['a -> b: allowed -> denied']);
  });

  it('tests CIDR membership', () => {
    expect(cidrContains('10.244.0.64/26', '10.244.0.65')).toBe(true);
    expect(cidrContains('10.244.0.64/26', '10.244.0.1')).toBe(false);
    expect(cidrContains('10.244.0.1/32', '10.244.0.1')).toBe(true);
    expect(cidrContains('0.0.0.0/0', '192.168.1.1')).toBe(true);
  });
});
