/**
 * A "host" network namespace for the node agent's tests: NICs named eth0,
 * eth1, ... (veths to a router namespace) with the given addresses, all up
 * with loopback, and the test etcd's port forwarded into its loopback, so the
 * CLI run inside sees interfaces the test chose and reaches etcd as on a node.
 */
import type { NetnsRef } from '../../../lib/kernel/netns.js';
import type { EtcdInstance } from '../../harness/etcd.js';
import { uniqueName, type NetnsHarness } from '../../harness/netns.js';

export async function makeNodeHost(h: NetnsHarness, etcd: EtcdInstance, label: string, nicAddresses: readonly string[]): Promise<NetnsRef> {
  const host = await h.makeNetns(label);
  const router = await h.makeNetns(`${label}r`);
  const nics = nicAddresses.map((_, i) => `eth${i}`);
  for (const [i, nic] of nics.entries()) {
    await h.makeVeth(uniqueName('r', 6), nic, { aNs: router, bNs: host });
    await h.exec(host, 'ip', ['addr', 'add', nicAddresses[i]!, 'dev', nic]);
  }
  for (const dev of ['lo', ...nics]) await h.exec(host, 'ip', ['link', 'set', dev, 'up']);
  await h.forwardLoopbackPort(host, Number(new URL(etcd.endpoint).port));
  return host;
}
