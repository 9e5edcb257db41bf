import { describe, expect, it } from 'vitest';
import { path, peer } from '../rib/paths.test-helpers.js';
import type { BGPConfigurationSpec, IPAMBlockSpec, IPPoolSpec } from '../../../crds/src/index.js';
import type { PoolRouting } from '../program/routes.js';
import { calculateBlockPaths, calculateServicePaths, communitiesFor, type BlockRecord, type ServiceAdvertisement } from './blocks.js';
import { calculateExportPolicy, type PoolExport } from './export-policy.js';
import { parseCidr } from '../../../lib/cidr.js';

const NODE = { ipv4: '192.168.1.10', ipv6: 'fd00::10' };

function block(cidr: string, affinity: string | null, allocatedBy: Record<number, string> = {}, deleted = false): BlockRecord {
  const size = 2 ** ((cidr.includes(':') ? 128 : 32) - Number(cidr.split('/')[1]));
  const nodes = [...new Set(Object.values(allocatedBy))];
  const allocations = Array.from({ length: size }, (_, i) => (allocatedBy[i] === undefined ? null : nodes.indexOf(allocatedBy[i]!)));
  return { cidr, affinity, allocations, attributes: nodes.map((node) => ({ secondary: { node, namespace: 'default' } })), deleted };
}

describe('calculateBlockPaths', () => {
  it('aggregates adjacent affine blocks and skips other nodes’ and deleted ones', () => {
    const paths = calculateBlockPaths(
      'node1',
      [
        block('10.244.0.0/26', 'host:node1'),
        block('10.244.0.64/26', 'host:node1'),
        block('10.244.0.192/26', 'host:node1'),
        block('10.244.1.0/26', 'host:node2'),
        block('10.244.2.0/26', 'host:node1', {}, true),
      ],
      NODE,
    );
    expect(paths.map((p) => p.prefix)).toEqual(['10.244.0.0/25', '10.244.0.192/26']);
    expect(paths[0]).toEqual({ prefix: '10.244.0.0/25', nextHop: '192.168.1.10', attributes: { origin: 'IGP', asPath: [] }, peer: null, isStale: false });
  });

  it('adds a /32 for each address borrowed from another node’s block, and not for addresses others borrowed from ours', () => {
    const paths = calculateBlockPaths(
      'node1',
      [block('10.244.1.0/29', 'host:node2', { 1: 'node2', 5: 'node1', 6: 'node1' }), block('10.244.0.0/29', 'host:node1', { 2: 'node3' }), block('10.244.3.0/30', null, { 0: 'node1' })],
      NODE,
    );
    expect(paths.map((p) => p.prefix)).toEqual(['10.244.0.0/29', '10.244.1.5/32', '10.244.1.6/32', '10.244.3.0/32']);
  });

  it('originates IPv6 blocks with the node’s IPv6 address, and nothing for a family the node has no address in', () => {
    const blocks = [block('fd00:10:244::/125', 'host:node1', { 3: 'node1' }), block('10.244.0.0/30', 'host:node1')];
    expect(calculateBlockPaths('node1', blocks, NODE).map((p) => [p.prefix, p.nextHop])).toEqual([
      ['10.244.0.0/30', '192.168.1.10'],
      ['fd00:10:244::/125', 'fd00::10'],
    ]);
    expect(calculateBlockPaths('node1', blocks, { ipv4: '192.168.1.10' }).map((p) => p.prefix)).toEqual(['10.244.0.0/30']);
  });

  it('gives the same paths whatever order the blocks are listed in', () => {
    const blocks = [block('10.244.0.64/26', 'host:node1'), block('10.244.0.0/26', 'host:node1'), block('10.244.1.0/29', 'host:node2', { 4: 'node1' })];
    expect(calculateBlockPaths('node1', [...blocks].reverse(), NODE)).toEqual(calculateBlockPaths('node1', blocks, NODE));
  });
});

describe('service ranges and communities', () => {
  it('originates serviceClusterIPs, serviceExternalIPs and serviceLoadBalancerIPs, merged', () => {
    const paths = calculateServicePaths(
      { serviceClusterIPs: [{ cidr: '10.96.0.0/12' }], serviceExternalIPs: [{ cidr: '203.0.113.0/25' }, { cidr: '203.0.113.128/25' }], serviceLoadBalancerIPs: [{ cidr: 'fd00:96::/112' }] },
      NODE,
    );
    expect(paths.map((p) => p.prefix)).toEqual(['10.96.0.0/12', '203.0.113.0/24', 'fd00:96::/112']);
  });

  it('attaches the communities of every prefixAdvertisements entry that contains the prefix, by name or value', () => {
    const adv = {
      communities: [{ name: 'pods', value: '64512:100' }, { name: 'big', value: '64512:1:2' }],
      prefixAdvertisements: [
        { cidr: '10.244.0.0/16', communities: ['pods', '65000:7'] },
        { cidr: '10.244.0.0/24', communities: ['big'] },
        { cidr: '10.96.0.0/12', communities: ['65000:9'] },
      ],
    };
    expect(communitiesFor(parseCidr('10.244.0.0/26')!, adv)).toEqual({
      communities: [64512 * 65536 + 100, 65000 * 65536 + 7].sort((a, b) => a - b),
      largeCommunities: [{ globalAdministrator: 64512, localData1: 1, localData2: 2 }],
    });
    expect(communitiesFor(parseCidr('10.245.0.0/26')!, adv)).toEqual({});
    const [p] = calculateBlockPaths('node1', [block('10.244.1.0/30', 'host:node1')], NODE, adv);
    expect(p?.attributes.communities).toEqual([64512 * 65536 + 100, 65000 * 65536 + 7].sort((a, b) => a - b));
  });
});

describe('calculateExportPolicy', () => {
  const policy = calculateExportPolicy(
    [{ cidr: '10.244.0.0/16' }, { cidr: '10.250.0.0/16', disableBGPExport: true }, { cidr: 'fd00:10:244::/64' }],
    { serviceClusterIPs: [{ cidr: '10.96.0.0/12' }] },
  );
  const TOR = peer('10.1.0.1');
  it.each([
    ['a block inside an exported pool', '10.244.0.0/26', true],
    ['a borrowed /32 inside an exported pool', '10.244.3.7/32', true],
    ['an IPv6 block inside an exported pool', 'fd00:10:244::/122', true],
    ['the service cluster range', '10.96.0.0/12', true],
    ['a block in a pool with disableBGPExport', '10.250.0.0/26', false],
    ['a default route learned from a ToR', '0.0.0.0/0', false],
    ['a prefix wider than the pool', '10.0.0.0/8', false],
  ])('%s: %s → %s', (_name, prefix, expected) => {
    expect(policy(path(prefix, null), TOR)).toBe(expected);
  });
});

describe('the crds types fit', () => {
  it('IPAMBlockSpec, BGPConfigurationSpec and IPPoolSpec are accepted as they are (checked by tsc)', () => {
    const accepts = (_b: BlockRecord, _s: ServiceAdvertisement, _p: PoolExport, _r: PoolRouting): boolean => true;
    const fits = (b: IPAMBlockSpec, s: BGPConfigurationSpec, p: IPPoolSpec): boolean => accepts(b, s, p, p);
    expect(typeof fits).toBe('function');
  });
});
