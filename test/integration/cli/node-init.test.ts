/**
 * `tortie node init` as the DaemonSet runs it: the CLI in a "host" network
 * namespace whose interfaces the test made, against a real etcd (forwarded
 * into the namespace's loopback), with calico/node's environment variables.
 * The address comes from the kernel (`ip -json`), not from a fixture.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtcdDatastore, type EtcdDatastore } from '../../../lib/datastore/etcd.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import type { NetnsRef } from '../../../lib/kernel/netns.js';
import { startEtcd, type EtcdInstance } from '../../harness/etcd.js';
import { createNetnsHarness, kernelAccessProblem, type NetnsHarness } from '../../harness/netns.js';
import { makeNodeHost } from './node-host.js';

const problem = await kernelAccessProblem();
if (problem !== null) console.warn(`skipping test/integration/cli/node-init.test.ts: ${problem}`);

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

describe.skipIf(problem !== null)('tortie node init', () => {
  let h: NetnsHarness;
  let etcd: EtcdInstance;
  let store: EtcdDatastore;
  let host: NetnsRef;
  let dir: string;

  beforeAll(async () => {
    h = createNetnsHarness();
    etcd = await startEtcd();
    store = createEtcdDatastore({ endpoints: [etcd.endpoint] });
    dir = await mkdtemp(join(tmpdir(), 'tortie-node-init-'));
    // NICs named like a host's, so first-found takes eth0; a route out of eth1 for can-reach=.
    host = await makeNodeHost(h, etcd, 'ni', ['192.0.2.10/24', '10.1.0.5/16']);
    await h.exec(host, 'ip', ['route', 'add', '198.51.100.0/24', 'via', '10.1.0.1', 'dev', 'eth1', 'onlink']);
  }, 60_000);

  afterAll(async () => {
    await store?.close();
    await h?.cleanup();
    await etcd?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  async function init(name: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
    const file = join(dir, `${name}.nodename`);
    const child = h.spawnIn(host, '/usr/bin/env', [
      '-i', `PATH=${process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`, `ETCD_ENDPOINTS=${etcd.endpoint}`, `NODENAME=${name}`,
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      process.execPath, join(repo, 'dist/cli/src/main.js'), 'node', 'init', '--nodename-file', file,
    ]);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number>((done) => child.once('exit', (c) => done(c ?? -1)));
    return { code, stdout, stderr };
  }

  it('registers the first-found address with its prefix length and the AS, creates the default pool once, and takes a VXLAN tunnel address', async () => {
    const first = await init('node-a', { AS: '64513', CALICO_IPV4POOL_CIDR: '10.244.0.0/16', CALICO_IPV4POOL_IPIP: 'Never', CALICO_IPV4POOL_VXLAN: 'CrossSubnet' });
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^node node-a: IPv4 192\.0\.2\.10\/24 \(eth0\), IPv6 none\nippool\.crd\.tortie\.dev\/default-ipv4-ippool created\nvxlan tunnel address 10\.244\.\d+\.\d+\n$/);
    const tunnelAddress = /vxlan tunnel address (\S+)/.exec(first.stdout)?.[1];
    expect((await store.get(Kinds.Node, 'node-a'))?.spec).toEqual({
      bgp: { ipv4Address: '192.0.2.10/24', asNumber: 64513 },
      addresses: [{ address: '192.0.2.10/24', type: 'CalicoNodeIP' }],
      ipv4VXLANTunnelAddr: tunnelAddress,
      vxlanTunnelMACAddr: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/),
    });
    expect((await store.get(Kinds.IPPool, 'default-ipv4-ippool'))?.spec).toMatchObject({ cidr: '10.244.0.0/16', blockSize: 26, ipipMode: 'Never', vxlanMode: 'CrossSubnet', natOutgoing: true });
    expect(await readFile(join(dir, 'node-a.nodename'), 'utf8')).toBe('node-a\n');

    const again = await init('node-a', { CALICO_IPV4POOL_CIDR: '10.99.0.0/16' });
    expect(again).toMatchObject({ code: 0, stdout: 'node node-a: IPv4 192.0.2.10/24 (eth0), IPv6 none (unchanged)\n' });
    expect((await store.list(Kinds.IPPool)).items).toHaveLength(1);
  });

  it('can-reach= takes the source of the route towards a destination', async () => {
    const run = await init('node-b', { IP_AUTODETECTION_METHOD: 'can-reach=198.51.100.7', DISABLE_NODE_IP_CHECK: 'true' });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^node node-b: IPv4 10\.1\.0\.5\/16 \(eth1\), IPv6 none\n/);
  });

  it('refuses to reuse another node\'s address, and a bad setting, with exit 2 and a message naming the way out', async () => {
    const clash = await init('node-c', { IP: '192.0.2.10' });
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(/node node-a already uses 192\.0\.2\.10/);
    const bad = await init('node-c', { IP_AUTODETECTION_METHOD: 'interface=wlan.*' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/cannot autodetect this host's IPv4 address: no interface that is up and matches \/wlan\.\*\//);
    expect(await store.get(Kinds.Node, 'node-c')).toBeNull();
  });
});
