import { describe, expect, it } from 'vitest';
import { Kinds } from '../../lib/datastore/kinds.js';
import { formatIssues, parseResource, validateAs, validateResource } from './index.js';

const V = 'crd.tortie.dev/v1';

function pool(spec: Record<string, unknown>) {
  return { apiVersion: V, kind: 'IPPool', metadata: { name: 'pool' }, spec };
}

function messages(input: unknown): string {
  const result = validateResource(input);
  expect(result.ok, 'expected the object to be refused').toBe(false);
  return result.ok ? '' : formatIssues(result.issues);
}

function accepted(input: unknown) {
  const result = validateResource(input);
  if (!result.ok) throw new Error(`expected the object to be accepted:\n${formatIssues(result.issues)}`);
  return result.object;
}

describe('IPPool', () => {
  it('applies Calico defaults: blockSize 26, ipipMode and vxlanMode Never, natOutgoing false, nodeSelector all()', () => {
    const object = accepted(pool({ cidr: '10.244.0.0/16' }));
    expect(object.spec).toEqual({
      cidr: '10.244.0.0/16',
      blockSize: 26,
      ipipMode: 'Never',
      vxlanMode: 'Never',
      natOutgoing: false,
      disabled: false,
      disableBGPExport: false,
      nodeSelector: 'all()',
      allowedUses: ['Workload', 'Tunnel'],
    });
  });

  it('defaults blockSize to 122 for an IPv6 pool', () => {
    expect(accepted(pool({ cidr: 'fd00:10:244::/64' })).spec).toMatchObject({ blockSize: 122 });
  });

  it.each([
    ['a CIDR that is not one', { cidr: '10.0.0/16' }, 'spec.cidr: "10.0.0/16" is not a CIDR; write a CIDR such as 10.244.0.0/16'],
    ['a host address as a pool', { cidr: '10.0.0.1/16' }, 'spec.cidr: 10.0.0.1/16 is a host address, not a network; the network is 10.0.0.0/16'],
    ['blockSize outside the IPv4 range', { cidr: '10.0.0.0/16', blockSize: 33 }, 'spec.blockSize: 33 is outside 20–32 for IPv4; use 26'],
    ['blockSize outside the IPv6 range', { cidr: 'fd00::/48', blockSize: 100 }, 'spec.blockSize: 100 is outside 116–128 for IPv6; use 122'],
    ['blockSize larger than the pool', { cidr: '10.0.0.0/26', blockSize: 24 }, 'spec.blockSize: blockSize 24 is larger than the pool /26'],
    ['the default blockSize larger than the pool', { cidr: '10.0.0.0/28' }, 'spec.blockSize: the default blockSize 26 is larger than the pool /28'],
    ['ipipMode and vxlanMode both on', { cidr: '10.0.0.0/16', ipipMode: 'Always', vxlanMode: 'CrossSubnet' }, 'ipipMode is Always and vxlanMode is CrossSubnet; a pool uses one encapsulation'],
    ['IPIP on an IPv6 pool', { cidr: 'fd00::/48', ipipMode: 'Always' }, 'spec.ipipMode: ipipMode Always is IPv4 only'],
    ['a misspelt mode', { cidr: '10.0.0.0/16', ipipMode: 'always' }, 'spec.ipipMode: "always" is not valid; must be one of Always, CrossSubnet, Never (did you mean Always?)'],
    ['a selector that does not parse', { cidr: '10.0.0.0/16', nodeSelector: 'zone ==' }, 'spec.nodeSelector: selector "zone ==" does not parse'],
    ['an unknown field', { cidr: '10.0.0.0/16', blocksize: 26 }, 'spec.blocksize: unknown field; did you mean "blockSize"?'],
    ['a missing cidr', {}, 'spec.cidr: is required: a CIDR such as 10.244.0.0/16'],
    ['a blockSize of the wrong type', { cidr: '10.0.0.0/16', blockSize: '26' }, 'spec.blockSize: expected an integer, got "26"'],
  ])('refuses %s', (_name, spec, expected) => {
    expect(messages(pool(spec))).toContain(expected);
  });
});

describe('kinds and apiVersions', () => {
  it('accepts projectcalico.org/v3 and rewrites it to crd.tortie.dev/v1', () => {
    const object = accepted({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'p' }, spec: { cidr: '10.1.0.0/16' } });
    expect(object.apiVersion).toBe(V);
  });

  it('refuses an unknown kind, listing the known ones', () => {
    const text = messages({ apiVersion: V, kind: 'Ippool', metadata: { name: 'p' } });
    expect(text).toContain('kind: unknown kind "Ippool"; did you mean IPPool?');
    expect(text).toContain('BGPPeer');
  });

  it('names the right apiVersion for a kind under the wrong one', () => {
    expect(messages({ apiVersion: 'v1', kind: 'BGPPeer', metadata: { name: 'p' } })).toContain('use apiVersion crd.tortie.dev/v1');
  });

  it('refuses a namespace on a cluster-scoped kind', () => {
    expect(messages({ apiVersion: V, kind: 'IPPool', metadata: { name: 'p', namespace: 'x' }, spec: { cidr: '10.0.0.0/16' } })).toContain(
      'metadata.namespace: IPPool is cluster-scoped',
    );
  });

  it('refuses a name that Kubernetes would refuse', () => {
    expect(messages(pool({ cidr: '10.0.0.0/16' }) && { ...pool({ cidr: '10.0.0.0/16' }), metadata: { name: 'My_Pool' } })).toContain('metadata.name: "My_Pool" is not a name');
  });

  it('refuses something that is not an object', () => {
    expect(messages('hello')).toContain('expected a resource');
  });

  it('validateAs parses an object of a known kind', () => {
    const result = validateAs(Kinds.BGPConfiguration, { apiVersion: V, kind: 'BGPConfiguration', metadata: { name: 'default' } });
    expect(result.ok && result.object.spec).toEqual({ logSeverityScreen: 'Info', nodeToNodeMeshEnabled: true, asNumber: 64512, listenPort: 179 });
  });
});

describe('BGP', () => {
  const config = (spec: Record<string, unknown>) => ({ apiVersion: V, kind: 'BGPConfiguration', metadata: { name: 'default' }, spec });
  const peer = (spec: Record<string, unknown>) => ({ apiVersion: V, kind: 'BGPPeer', metadata: { name: 'tor' }, spec });

  it.each([
    [64512, 64512],
    ['65000', 65000],
    ['1.10', 65546],
    [4294967295, 4294967295],
  ])('reads AS number %j as %d', (input, asn) => {
    expect(accepted(config({ asNumber: input })).spec).toMatchObject({ asNumber: asn });
  });

  it.each([0, 4294967296, '65536.1', 'AS65000', 1.5])('refuses AS number %j', (input) => {
    expect(messages(config({ asNumber: input }))).toContain('spec.asNumber: ');
    expect(messages(config({ asNumber: input }))).toContain('1–4294967295');
  });

  it.each(['192.0.2.1', '192.0.2.1:1179', '2001:db8::1', '[2001:db8::1]:1179'])('accepts peerIP %s', (peerIP) => {
    accepted(peer({ peerIP, asNumber: 64513 }));
  });

  it.each(['192.0.2.300', 'tor1', '2001:db8::1:179x', '192.0.2.1:70000'])('refuses peerIP %s', (peerIP) => {
    expect(messages(peer({ peerIP, asNumber: 64513 }))).toContain(`spec.peerIP: ${JSON.stringify(peerIP)} is not an IP address`);
  });

  it('requires asNumber with peerIP', () => {
    expect(messages(peer({ peerIP: '192.0.2.1' }))).toContain('spec.asNumber: is required with peerIP');
  });

  it('refuses node and nodeSelector together', () => {
    expect(messages(peer({ peerIP: '192.0.2.1', asNumber: 1, node: 'a', nodeSelector: 'all()' }))).toContain('node and nodeSelector are both set');
  });

  it('refuses a prefix advertisement naming an undefined community', () => {
    expect(messages(config({ communities: [{ name: 'a', value: '64512:1' }], prefixAdvertisements: [{ cidr: '10.0.0.0/8', communities: ['b'] }] }))).toContain(
      'spec.prefixAdvertisements[0].communities[0]: "b" is neither a community defined in spec.communities (a)',
    );
  });
});

describe('policy', () => {
  const gnp = (spec: Record<string, unknown>) => ({ apiVersion: V, kind: 'GlobalNetworkPolicy', metadata: { name: 'p' }, spec });

  it('fills in types from the rules, as Calico does', () => {
    expect(accepted(gnp({ egress: [{ action: 'Allow' }] })).spec).toMatchObject({ types: ['Egress'] });
    expect(accepted(gnp({ ingress: [{ action: 'Allow' }], egress: [{ action: 'Deny' }] })).spec).toMatchObject({ types: ['Ingress', 'Egress'] });
    expect(accepted(gnp({})).spec).toMatchObject({ types: ['Ingress'], selector: '' });
  });

  it.each([
    ['a bad rule action', { ingress: [{ action: 'Accept' }] }, 'spec.ingress[0].action: "Accept" is not valid; must be one of Allow, Deny, Log, Pass'],
    ['an upside-down port range', { ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [80, '90:80'] } }] }, 'spec.ingress[0].destination.ports[1]: port range "90:80" is upside down; write "80:90"'],
    ['ports without a protocol', { ingress: [{ action: 'Allow', destination: { ports: [80] } }] }, 'spec.ingress[0].destination.ports: ports need protocol TCP'],
    ['a misspelt protocol', { ingress: [{ action: 'Allow', protocol: 'tcp' }] }, 'spec.ingress[0].protocol: protocol "tcp" is spelled "TCP"'],
    ['icmp without protocol ICMP', { ingress: [{ action: 'Allow', protocol: 'TCP', icmp: { type: 8 } }] }, 'spec.ingress[0].icmp: icmp needs protocol ICMP or ICMPv6'],
    ['an ICMP code without type', { ingress: [{ action: 'Allow', protocol: 'ICMP', icmp: { code: 0 } }] }, 'spec.ingress[0].icmp.code: an ICMP code needs an ICMP type'],
    ['a net that is not one', { egress: [{ action: 'Allow', destination: { nets: ['10.0.0.0/33'] } }] }, 'spec.egress[0].destination.nets[0]: "10.0.0.0/33" is neither a CIDR nor an IP address'],
    ['a net of the other family', { egress: [{ action: 'Allow', ipVersion: 6, destination: { nets: ['10.0.0.0/8'] } }] }, 'spec.egress[0].destination.nets[0]: 10.0.0.0/8 is IPv4 but the rule has ipVersion 6'],
    ['a bad selector in a rule', { ingress: [{ action: 'Allow', source: { selector: 'role in {a' } }] }, 'spec.ingress[0].source.selector: selector "role in {a" does not parse'],
    ['rules their types exclude', { types: ['Ingress'], egress: [{ action: 'Allow' }] }, 'spec.egress: the policy has egress rules but types is [Ingress]'],
    ['preDNAT with doNotTrack', { preDNAT: true, doNotTrack: true, applyOnForward: true }, 'spec.preDNAT: preDNAT and doNotTrack are both true'],
    ['an unknown rule field', { ingress: [{ action: 'Allow', sources: {} }] }, 'spec.ingress[0].sources: unknown field; did you mean "source"?'],
  ])('refuses %s', (_name, spec, expected) => {
    expect(messages(gnp(spec))).toContain(expected);
  });

  it('accepts named ports and ranges', () => {
    accepted(gnp({ ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [80, '8080:8090', 'http', '443'] } }] }));
  });
});

describe('IPAM records', () => {
  const block = (spec: Record<string, unknown>) => ({ apiVersion: V, kind: 'IPAMBlock', metadata: { name: '10-0-0-0-30' }, spec });

  it('accepts a consistent block and applies defaults', () => {
    const object = accepted(block({ cidr: '10.0.0.0/30', affinity: 'host:node1', allocations: [0, null, null, null], unallocated: [1, 2, 3], attributes: [{ handle_id: 'k8s-pod-network.abc', secondary: { node: 'node1' } }] }));
    expect(object.spec).toMatchObject({ sequenceNumber: 0, deleted: false, strictAffinity: false });
  });

  it('refuses allocations that do not cover the block', () => {
    expect(messages(block({ cidr: '10.0.0.0/30', allocations: [null], unallocated: [0], attributes: [] }))).toContain(
      'spec.allocations: has 1 entries but a /30 block has 4 addresses',
    );
  });

  it('refuses an affinity that is not host:<node>', () => {
    expect(messages(block({ cidr: '10.0.0.0/30', affinity: 'node1', allocations: [null, null, null, null], unallocated: [0, 1, 2, 3], attributes: [] }))).toContain('spec.affinity');
  });

  it('accepts a BlockAffinity and an IPAMHandle', () => {
    accepted({ apiVersion: V, kind: 'BlockAffinity', metadata: { name: 'node1-10-0-0-0-26' }, spec: { state: 'confirmed', node: 'node1', cidr: '10.0.0.0/26' } });
    accepted({ apiVersion: V, kind: 'IPAMHandle', metadata: { name: 'k8s-pod-network.abc' }, spec: { handleID: 'k8s-pod-network.abc', block: { '10.0.0.0/26': 1 } } });
  });
});

describe('FelixConfiguration', () => {
  it('keeps unset fields unset, so a per-node object overrides only what it sets', () => {
    const object = accepted({ apiVersion: V, kind: 'FelixConfiguration', metadata: { name: 'node.a' }, spec: { healthPort: 9100 } });
    expect(object.spec).toEqual({ healthPort: 9100 });
  });

  it('defaults a failsafe port protocol to TCP', () => {
    const object = accepted({ apiVersion: V, kind: 'FelixConfiguration', metadata: { name: 'default' }, spec: { failsafeInboundHostPorts: [{ port: 22 }] } });
    expect(object.spec).toEqual({ failsafeInboundHostPorts: [{ protocol: 'TCP', port: 22 }] });
  });
});

describe('parseResource', () => {
  it('gives the typed object of a kind named by its key', () => {
    const result = parseResource('IPPool', pool({ cidr: '10.9.0.0/16' }));
    expect(result.ok && result.object.spec.blockSize).toBe(26);
  });

  it('gives the issues of an invalid object', () => {
    const result = parseResource('BGPPeer', { apiVersion: V, kind: 'BGPPeer', metadata: { name: 'x' }, spec: { peerIP: 'nope', asNumber: 1 } });
    expect(result.ok ? [] : result.issues.map((i) => i.path)).toEqual(['spec.peerIP']);
  });
});
