import { describe, expect, it } from 'vitest';
import { calculatePolicy } from '../calc/calculate-policy.js';
import type { CompiledRule, PolicyChain } from '../calc/desired.js';
import { SCENARIOS } from '../calc/scenarios.test-helpers.js';
import { MARK_ALLOW, MARK_PASS } from './marks.js';
import { formatNftJson, type NftStatement } from './nft-json.js';
import { renderMatches, renderPolicyChain } from './policy-chain.js';
import { renderFullReplace, renderRuleset } from './ruleset.js';

const ANY = { sets: [], notSets: [], ports: null, notPorts: [], namedPortSet: null, notNamedPortSet: null };
const r = (over: Partial<CompiledRule>): CompiledRule => ({
  action: 'allow',
  family: null,
  protocol: null,
  notProtocol: null,
  icmp: null,
  notIcmp: null,
  source: ANY,
  destination: ANY,
  ruleIndex: 0,
  ...over,
});

describe('renderMatches', () => {
  it.each([
    ['nothing: matches every packet', r({}), []],
    ['family', r({ family: 6 }), [{ match: { op: '==', left: { meta: { key: 'nfproto' } }, right: 'ipv6' } }]],
    ['protocol by name', r({ protocol: 132 }), [{ match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'sctp' } }]],
    ['protocol by number', r({ protocol: 47 }), [{ match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 47 } }]],
    ['notProtocol', r({ notProtocol: 17 }), [{ match: { op: '!=', left: { meta: { key: 'l4proto' } }, right: 'udp' } }]],
    [
      'one port and a range',
      r({ protocol: 6, destination: { ...ANY, ports: [{ first: 80, last: 80 }, { first: 8000, last: 8100 }] } }),
      [
        { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'tcp' } },
        { match: { op: '==', left: { payload: { protocol: 'th', field: 'dport' } }, right: { set: [80, { range: [8000, 8100] }] } } },
      ],
    ],
    [
      'notPorts on the source',
      r({ protocol: 17, source: { ...ANY, notPorts: [{ first: 53, last: 53 }] } }),
      [
        { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'udp' } },
        { match: { op: '!=', left: { payload: { protocol: 'th', field: 'sport' } }, right: 53 } },
      ],
    ],
    [
      'sets and notSets',
      r({ family: 4, source: { ...ANY, sets: ['sel4-a', 'net4-b'], notSets: ['net4-c'] } }),
      [
        { match: { op: '==', left: { meta: { key: 'nfproto' } }, right: 'ipv4' } },
        { match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '@sel4-a' } },
        { match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '@net4-b' } },
        { match: { op: '!=', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '@net4-c' } },
      ],
    ],
    [
      'named ports: address . protocol . port',
      r({ family: 6, protocol: 6, destination: { ...ANY, namedPortSet: 'np6-x' } }),
      [
        { match: { op: '==', left: { meta: { key: 'nfproto' } }, right: 'ipv6' } },
        { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'tcp' } },
        {
          match: {
            op: '==',
            left: { concat: [{ payload: { protocol: 'ip6', field: 'daddr' } }, { meta: { key: 'l4proto' } }, { payload: { protocol: 'th', field: 'dport' } }] },
            right: '@np6-x',
          },
        },
      ],
    ],
    [
      'icmp type and code',
      r({ protocol: 1, icmp: { type: 8, code: 0 } }),
      [
        { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'icmp' } },
        { match: { op: '==', left: { payload: { protocol: 'icmp', field: 'type' } }, right: 8 } },
        { match: { op: '==', left: { payload: { protocol: 'icmp', field: 'code' } }, right: 0 } },
      ],
    ],
    [
      'not icmpv6 type and code: one concatenation',
      r({ protocol: 58, notIcmp: { type: 1, code: 4 } }),
      [
        { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 58 } },
        {
          match: {
            op: '!=',
            left: { concat: [{ payload: { protocol: 'icmpv6', field: 'type' } }, { payload: { protocol: 'icmpv6', field: 'code' } }] },
            right: { set: [{ concat: [1, 4] }] },
          },
        },
      ],
    ],
  ] as const)('%s', (_name, rule, expected) => {
    expect(renderMatches(rule)).toEqual(expected);
  });
});

describe('renderPolicyChain actions', () => {
  const chain = (direction: 'ingress' | 'egress', action: CompiledRule['action']): PolicyChain => ({ name: 'c', policyId: 'gnp/p', direction, rules: [r({ action })] });
  // Matches (none here), the counter, then the action.
  const exprOf = (c: PolicyChain): NftStatement[] => (renderPolicyChain(c)[0] as { rule: { expr: NftStatement[] } }).rule.expr.slice(1);
  const mark = (bit: number) => ({ mangle: { key: { meta: { key: 'mark' } }, value: { '|': [{ meta: { key: 'mark' } }, bit] } } });
  it.each([
    ['ingress Allow accepts', 'ingress', 'allow', [{ accept: null }]],
    ['egress Allow marks and returns, so the destination ingress still runs', 'egress', 'allow', [mark(MARK_ALLOW), { return: null }]],
    ['Deny drops', 'egress', 'deny', [{ drop: null }]],
    ['Pass marks and returns', 'ingress', 'pass', [mark(MARK_PASS), { return: null }]],
    ['Log logs and goes on', 'ingress', 'log', [{ log: { prefix: 'tortie gnp/p: ' } }]],
  ] as const)('%s', (_name, direction, action, expected) => {
    expect(exprOf(chain(direction, action))).toEqual(expected);
  });
});

describe('renderRuleset', () => {
  it.each(Object.keys(SCENARIOS))('renders scenario %s as its golden file', async (name) => {
    const json = renderFullReplace(calculatePolicy(SCENARIOS[name]!));
    await expect(formatNftJson(json)).toMatchFileSnapshot(`fixtures/nft/${name}.json`);
  });

  it('is byte-identical for the same desired state', () => {
    const a = JSON.stringify(renderRuleset(calculatePolicy(SCENARIOS['mixed']!)));
    const b = JSON.stringify(renderRuleset(calculatePolicy(structuredClone(SCENARIOS['mixed']!))));
    expect(a).toBe(b);
  });

  it('replaces the whole table in one transaction that tolerates a missing table', () => {
    const cmds = renderFullReplace(calculatePolicy(SCENARIOS['empty']!)).nftables;
    expect(cmds.slice(0, 3)).toEqual([
      { add: { table: { family: 'inet', name: 'tortie' } } },
      { delete: { table: { family: 'inet', name: 'tortie' } } },
      { add: { table: { family: 'inet', name: 'tortie' } } },
    ]);
    expect(cmds.slice(1).filter((c) => 'delete' in c)).toHaveLength(1);
  });

  it('touches nothing outside inet tortie', () => {
    for (const o of renderRuleset(calculatePolicy(SCENARIOS['mixed']!))) {
      const inner = Object.values(o)[0] as { family: string; table?: string; name: string };
      expect(inner.family).toBe('inet');
      expect(inner.table ?? inner.name).toBe('tortie');
    }
  });

  it('declares every chain before any rule, map or jump refers to it', () => {
    const objs = renderRuleset(calculatePolicy(SCENARIOS['mixed']!));
    const firstNonChain = objs.findIndex((o, i) => i > 0 && !('chain' in o));
    expect(objs.slice(firstNonChain).some((o) => 'chain' in o)).toBe(false);
  });
});
