import { describe, expect, it } from 'vitest';
import { formatSelector } from '../../../lib/selector/format.js';
import { fromTortiePolicy, type TortiePolicy } from './tortie-policy.js';
import type { PolicyModel } from './policies.js';

const np = (spec: TortiePolicy['spec']): TortiePolicy => ({ kind: 'NetworkPolicy', metadata: { name: 'p', namespace: 'x' }, spec });
const gnp = (spec: TortiePolicy['spec']): TortiePolicy => ({ kind: 'GlobalNetworkPolicy', metadata: { name: 'g' }, spec });
function convert(p: TortiePolicy): PolicyModel {
  const r = fromTortiePolicy(p);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

describe('fromTortiePolicy', () => {
  it.each([
    ['no rules', {}, ['ingress']],
    ['ingress rules', { ingress: [{ action: 'Allow' }] }, ['ingress']],
    ['only egress rules', { egress: [{ action: 'Allow' }] }, ['egress']],
    ['both', { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] }, ['egress', 'ingress']],
    ['explicit', { types: ['Egress'] }, ['egress']],
  ] as const)('defaults types like Calico: %s', (_n, spec, types) => {
    expect(convert(np(spec as never)).types).toEqual(types);
  });

  it('ids, stages and order', () => {
    const a = convert(np({ order: 10 }));
    const g = convert(gnp({}));
    expect([a.id, a.stage, a.order]).toEqual(['np/x/p', 'tortie', 10]);
    expect([g.id, g.order, formatSelector(g.selector)]).toEqual(['gnp/g', null, 'all()']);
  });

  it.each([
    ['NetworkPolicy selector is namespaced', np({ selector: 'app == "web"' }), 'projectcalico.org/namespace == "x" && app == "web"'],
    ['GlobalNetworkPolicy with namespaceSelector', gnp({ selector: 'app == "web"', namespaceSelector: 'team == "a"' }), 'app == "web" && has(projectcalico.org/namespace) && pcns.team == "a"'],
    ['serviceAccountSelector', np({ serviceAccountSelector: 'role == "db"' }), 'projectcalico.org/namespace == "x" && has(projectcalico.org/serviceaccount) && pcsa.role == "db"'],
  ] as const)('%s', (_n, p, expected) => {
    expect(formatSelector(convert(p).selector)).toBe(expected);
  });

  it.each([
    ['selector in a NetworkPolicy rule stays in the namespace', np({ ingress: [{ action: 'Allow', source: { selector: 'a == "1"' } }] }), 'projectcalico.org/namespace == "x" && a == "1"'],
    ['namespaceSelector widens it', np({ ingress: [{ action: 'Allow', source: { selector: 'a == "1"', namespaceSelector: 'all()' } }] }), 'has(projectcalico.org/namespace) && a == "1"'],
    ['global() selects non-namespaced entities', gnp({ ingress: [{ action: 'Allow', source: { namespaceSelector: 'global()' } }] }), '!has(projectcalico.org/namespace)'],
    ['GNP selector is cluster-wide', gnp({ ingress: [{ action: 'Allow', source: { selector: 'a == "1"' } }] }), 'a == "1"'],
    [
      'serviceAccounts names and selector',
      np({ ingress: [{ action: 'Allow', source: { serviceAccounts: { names: ['b', 'a'], selector: 'x == "y"' } } }] }),
      'projectcalico.org/namespace == "x" && has(projectcalico.org/serviceaccount) && projectcalico.org/serviceaccount in {"a", "b"} && pcsa.x == "y"',
    ],
    ['nets only: no selector', np({ ingress: [{ action: 'Allow', source: { nets: ['10.0.0.0/8'] } }] }), null],
  ] as const)('entity: %s', (_n, p, expected) => {
    const s = convert(p).ingress[0]!.source.selector;
    expect(s === null ? null : formatSelector(s)).toBe(expected);
  });

  it('converts every rule field', () => {
    const p = convert(
      np({
        ingress: [
          {
            action: 'Deny',
            ipVersion: 4,
            protocol: 'TCP',
            notProtocol: null,
            source: { nets: ['10.1.2.3'], notNets: ['10.0.0.0/24'], notSelector: 'bad == "true"', ports: ['1024:65535'] },
            destination: { ports: [80, 'http'], notPorts: [81] },
          },
          { action: 'Allow', protocol: 'ICMP', icmp: { type: 8, code: 0 }, notICMP: { type: 3 } },
          { action: 'Pass', notProtocol: 'UDP' },
          { action: 'Log' },
        ],
      }),
    );
    const [deny, icmp, pass, log] = p.ingress;
    expect(deny).toMatchObject({
      action: 'Deny',
      ipVersion: 4,
      protocol: 6,
      source: { nets: ['10.1.2.3/32'], notNets: ['10.0.0.0/24'], ports: [{ kind: 'range', first: 1024, last: 65535 }] },
      destination: { ports: [{ kind: 'range', first: 80, last: 80 }, { kind: 'named', name: 'http' }], notPorts: [{ kind: 'range', first: 81, last: 81 }] },
    });
    expect(formatSelector(deny!.source.notSelector!)).toBe('bad == "true"');
    expect(icmp).toMatchObject({ protocol: 1, icmp: { type: 8, code: 0 }, notIcmp: { type: 3, code: null } });
    expect(pass).toMatchObject({ action: 'Pass', notProtocol: 17 });
    expect(log!.action).toBe('Log');
  });

  it.each([
    ['an unknown action', np({ ingress: [{ action: 'Maybe' }] }), /spec\.ingress\[0\]\.action/],
    ['a bad selector', np({ selector: 'a ==' }), /spec\.selector/],
    ['ports without a protocol', np({ egress: [{ action: 'Allow', destination: { ports: [80] } }] }), /spec\.egress\[0\]\.destination: ports need protocol/],
    ['ports with ICMP', np({ ingress: [{ action: 'Allow', protocol: 'ICMP', destination: { ports: [80] } }] }), /ports need protocol/],
    ['icmp without ICMP protocol', np({ ingress: [{ action: 'Allow', icmp: { type: 8 } }] }), /icmp: needs protocol/],
    ['a bad CIDR', np({ ingress: [{ action: 'Allow', source: { nets: ['10.0.0.0/40'] } }] }), /source\.nets\[0\]/],
    ['a bad port range', np({ ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: ['90:80'] } }] }), /destination\.ports\[0\]/],
    ['namespaceSelector on a NetworkPolicy', np({ namespaceSelector: 'all()' }), /only a GlobalNetworkPolicy/],
    ['a namespaced policy without namespace', { kind: 'NetworkPolicy', metadata: { name: 'p' } } as TortiePolicy, /metadata\.namespace/],
  ] as const)('refuses %s, naming the field', (_n, p, message) => {
    const r = fromTortiePolicy(p as TortiePolicy);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(message);
  });
});
