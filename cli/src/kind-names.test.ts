import { describe, expect, it } from 'vitest';
import { Kinds } from '../../lib/datastore/kinds.js';
import { knownKindNames, qualifiedName, resolveKind } from './kind-names.js';

describe('resolveKind', () => {
  it.each([
    ['ippools', Kinds.IPPool],
    ['ippool', Kinds.IPPool],
    ['IPPool', Kinds.IPPool],
    ['IPPOOLS', Kinds.IPPool],
    ['bgppeers', Kinds.BGPPeer],
    ['BGPPeer', Kinds.BGPPeer],
    ['gnp', Kinds.GlobalNetworkPolicy],
    ['globalnetworkpolicies', Kinds.GlobalNetworkPolicy],
    ['bgpconfig', Kinds.BGPConfiguration],
    ['wep', Kinds.WorkloadEndpoint],
    ['ipamblocks', Kinds.IPAMBlock],
    ['blockaffinity', Kinds.BlockAffinity],
    ['ippools.crd.tortie.dev', Kinds.IPPool],
    ['ippools.projectcalico.org', Kinds.IPPool],
  ])('%s is %s', (typed, kind) => {
    expect(resolveKind(typed)).toBe(kind);
  });

  it('a name shared with a core kind means the tortie kind, as in calicoctl', () => {
    expect(resolveKind('networkpolicies')).toBe(Kinds.NetworkPolicy);
    expect(resolveKind('NetworkPolicy')).toBe(Kinds.NetworkPolicy);
    expect(resolveKind('nodes')).toBe(Kinds.Node);
  });

  it('the core kind stays reachable by short name or group', () => {
    expect(resolveKind('netpol')).toBe(Kinds.K8sNetworkPolicy);
    expect(resolveKind('networkpolicies.networking.k8s.io')).toBe(Kinds.K8sNetworkPolicy);
    expect(resolveKind('pods')).toBe(Kinds.K8sPod);
  });

  it.each(['', 'pools', 'ippools.example.com', 'ip pool'])('%j is no kind', (typed) => {
    expect(resolveKind(typed)).toBeNull();
  });

  it('lists the tortie kinds by plural for the "unknown kind" message', () => {
    expect(knownKindNames()).toContain('ippools');
    expect(knownKindNames()).not.toContain('pods');
  });
});

describe('qualifiedName', () => {
  it.each([
    [Kinds.IPPool, 'default-ipv4-ippool', 'ippool.crd.tortie.dev/default-ipv4-ippool'],
    [Kinds.K8sNetworkPolicy, 'deny', 'networkpolicy.networking.k8s.io/deny'],
    [Kinds.K8sPod, 'web', 'pod/web'],
  ])('%s %s prints as %s', (kind, name, text) => {
    expect(qualifiedName(kind, name)).toBe(text);
  });
});
