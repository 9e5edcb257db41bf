import { describe, expect, it } from 'vitest';
import type { IpAddress, IpLink } from '../../../lib/kernel/ip-json.js';
import { createMemoryDatastore } from '../../../lib/datastore/memory.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNodeStartupConfig } from './config.js';
import { chooseNodeName, planNodeStartup, runNodeStartup, type HostView } from './startup.js';

const link = (ifindex: number, name: string): IpLink => ({ ifindex, name, flags: ['UP'], isUp: true, mtu: 1500, operState: 'UP', macAddress: '', kind: null, peerIfindex: null, peerNetnsId: null });
const addr = (ifindex: number, ifname: string, address: string, prefixLength: number): IpAddress => ({ ifindex, ifname, family: address.includes(':') ? 6 : 4, address, prefixLength, scope: 'global', isTentative: false, hasNoDad: false });
const host: HostView = {
  links: [link(2, 'eth0'), link(3, 'eth1')],
  addresses: [addr(2, 'eth0', '192.0.2.10', 24), addr(3, 'eth1', '10.1.0.5', 16)],
  routeSource: { 4: null, 6: null },
};
const node = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'crd.tortie.dev/v1', kind: 'Node', metadata: { name, resourceVersion: '7' }, spec });

describe('chooseNodeName', () => {
  it('prefers NODENAME, then the saved name, then HOSTNAME, then the OS name in lower case', () => {
    expect(chooseNodeName({ nodeNameSetting: 'a', hostnameSetting: 'c' }, 'b', 'D')).toBe('a');
    expect(chooseNodeName({ nodeNameSetting: null, hostnameSetting: 'c' }, 'b', 'D')).toBe('b');
    expect(chooseNodeName({ nodeNameSetting: null, hostnameSetting: 'c' }, null, 'D')).toBe('c');
    expect(chooseNodeName({ nodeNameSetting: null, hostnameSetting: null }, null, 'Host-A')).toBe('host-a');
  });
});

describe('planNodeStartup', () => {
  const plan = (env: Record<string, string>, over: Partial<Parameters<typeof planNodeStartup>[0]> = {}) =>
    planNodeStartup({ config: parseNodeStartupConfig(env), nodeName: 'n1', stored: null, otherNodes: [], pools: [], host, ...over });

  it('registers a new node with its detected address, AS and node IP, and creates the default pool', () => {
    const p = plan({ AS: '64513' });
    expect(p.node).toEqual({
      apiVersion: 'crd.tortie.dev/v1', kind: 'Node', metadata: { name: 'n1' },
      spec: { bgp: { ipv4Address: '192.0.2.10/24', asNumber: 64513 }, addresses: [{ address: '192.0.2.10/24', type: 'CalicoNodeIP' }] },
    });
    expect(p.poolsToCreate).toEqual([expect.objectContaining({ metadata: { name: 'default-ipv4-ippool' }, spec: expect.objectContaining({ cidr: '192.168.0.0/16', ipipMode: 'Always' }) })]);
  });

  it('keeps a stored address when IP is unset, and writes nothing when nothing changed', () => {
    const stored = node('n1', { bgp: { ipv4Address: '10.1.0.5/16' }, addresses: [{ address: '10.1.0.5/16', type: 'CalicoNodeIP' }] });
    const p = plan({}, { stored, pools: [{ apiVersion: 'x', kind: 'IPPool', metadata: { name: 'p' }, spec: { cidr: '10.244.0.0/16' } }] });
    expect(p.node).toBeNull();
    expect(p.ipv4?.address).toBe('10.1.0.5');
    expect(p.poolsToCreate).toEqual([]);
  });

  it('IP=autodetect replaces the stored address; IP=none removes it; a fixed IP takes its prefix length from the host', () => {
    const stored = node('n1', { bgp: { ipv4Address: '10.1.0.5/16', asNumber: 65000, routeReflectorClusterID: '1.0.0.1' } });
    expect(plan({ IP: 'autodetect' }, { stored }).node?.spec?.bgp).toEqual({ ipv4Address: '192.0.2.10/24', asNumber: 65000, routeReflectorClusterID: '1.0.0.1' });
    expect(plan({ IP: 'none' }, { stored }).node?.spec?.bgp).toEqual({ asNumber: 65000, routeReflectorClusterID: '1.0.0.1' });
    expect(plan({ IP: '10.1.0.5' }).node?.spec?.bgp?.ipv4Address).toBe('10.1.0.5/16');
    expect(plan({ IP: '203.0.113.7' }).node?.spec?.bgp?.ipv4Address).toBe('203.0.113.7/32');
  });

  it('keeps the metadata (resourceVersion, labels) and the fields it does not own', () => {
    const stored = { ...node('n1', { orchRefs: [{ orchestrator: 'k8s', nodeName: 'n1' }] }), metadata: { name: 'n1', resourceVersion: '7', labels: { rack: 'a' } } };
    const p = plan({}, { stored });
    expect(p.node?.metadata).toEqual({ name: 'n1', resourceVersion: '7', labels: { rack: 'a' } });
    expect(p.node?.spec).toMatchObject({ orchRefs: [{ orchestrator: 'k8s', nodeName: 'n1' }], bgp: { ipv4Address: '192.0.2.10/24' } });
  });

  it('refuses an address another node already uses, naming it and the ways out', () => {
    const other = node('n2', { bgp: { ipv4Address: '192.0.2.10/24' } });
    expect(() => plan({}, { otherNodes: [other] })).toThrow(/node n2 already uses 192\.0\.2\.10: .*DISABLE_NODE_IP_CHECK=true/);
    expect(plan({ DISABLE_NODE_IP_CHECK: 'true' }, { otherNodes: [other] }).ipv4?.address).toBe('192.0.2.10');
  });

  it('says what it looked at when autodetection finds nothing', () => {
    expect(() => plan({ IP_AUTODETECTION_METHOD: 'interface=wlan.*' })).toThrow(/cannot autodetect this host's IPv4 address: no interface that is up and matches \/wlan\.\*\/ .*set IP_AUTODETECTION_METHOD to another method, or IP to the address/);
  });

  it('names the variable of a default pool the IPPool schema refuses', () => {
    expect(() => plan({ CALICO_IPV4POOL_NODE_SELECTOR: 'has(' })).toThrow(/^CALICO_IPV4POOL_NODE_SELECTOR: /);
  });
});

describe('runNodeStartup', () => {
  it('writes the Node and the pool, saves the name, and a second start changes nothing', async () => {
    const datastore = createMemoryDatastore();
    const dir = mkdtempSync(join(tmpdir(), 'tortie-startup-'));
    try {
      const shell = { datastore, readHost: async () => host, nodeNameFile: join(dir, 'nodename'), osHostname: () => 'Box' };
      const first = await runNodeStartup(parseNodeStartupConfig({ CALICO_IPV4POOL_IPIP: 'Never' }), shell);
      expect(first).toMatchObject({ nodeName: 'box', isNodeWritten: true, poolsCreated: ['default-ipv4-ippool'] });
      expect(readFileSync(join(dir, 'nodename'), 'utf8')).toBe('box\n');
      expect((await datastore.get(Kinds.Node, 'box'))?.spec).toMatchObject({ bgp: { ipv4Address: '192.0.2.10/24' } });
      const second = await runNodeStartup(parseNodeStartupConfig({}), { ...shell, osHostname: () => 'renamed' });
      expect(second).toMatchObject({ nodeName: 'box', isNodeWritten: false, poolsCreated: [] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await datastore.close();
    }
  });
});
