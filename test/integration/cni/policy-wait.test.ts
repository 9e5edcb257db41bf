/**
 * ADD waits until the pod's policy is programmed (calico#9706): the real
 * plugin, exec'd by the cni-runner inside a node namespace, and a real
 * FelixLoop with a real NftTable programming that namespace, both on one real
 * etcd. Felix writes `<endpoint_status_dir>/<host interface>` after the nft
 * transaction that dispatches the interface; ADD waits for it
 * (`policy_setup_timeout_seconds`).
 *
 * Felix is made slow on purpose (it waits 1.5 s after a change before it
 * applies), so an ADD that did not wait would return before the interface
 * is in the dispatch maps.
 *
 * Needs `npm run build` first.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { randomInt } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EndpointStatusFiles } from '../../../felix/src/dataplane/endpoint-status.js';
import { NftTable } from '../../../felix/src/dataplane/nft-table.js';
import { FelixLoop } from '../../../felix/src/loop.js';
import { MAP_FROM_WORKLOAD, MAP_TO_WORKLOAD } from '../../../felix/src/render/dispatch.js';
import { NFT_TABLE_FAMILY, NFT_TABLE_NAME } from '../../../lib/contract.js';
import { createEtcdDatastore, type EtcdDatastore } from '../../../lib/datastore/etcd.js';
import { runCommand } from '../../../lib/kernel/exec.js';
import type { NetnsRef } from '../../../lib/kernel/netns.js';
import { hostVethName } from '../../../cni/src/plan.js';
import { createCniRunner, makePluginDir, type CniResult, type RuntimeConf } from '../../harness/cni-runner.js';
import { createIpPool } from '../../harness/pools.js';
import { ETCD_BINARY, startEtcd, type EtcdInstance } from '../../harness/etcd.js';
import { createNetnsHarness, kernelAccessProblem, pollUntil, uniqueName } from '../../harness/netns.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const PLUGIN = join(repo, 'dist/cni/src/main.js');
const NETWORK = 'k8s-pod-network';
const FELIX_DELAY_MS = 1_500;

const problem =
  (await kernelAccessProblem()) ??
  (existsSync(ETCD_BINARY) ? null : `${ETCD_BINARY} is missing (Debian package etcd-server)`) ??
  (existsSync('/usr/bin/socat') ? null : 'socat is missing (it forwards etcd into the node namespace)');
if (problem !== null) console.warn(`skipping test/integration/cni/policy-wait.test.ts: ${problem}`);

const subnet = randomInt(1, 250);

describe.skipIf(problem !== null)('ADD waits for the policy agent to program the pod', () => {
  const h = createNetnsHarness();
  let etcd: EtcdInstance;
  let ds: EtcdDatastore;
  let binDir: string;
  let node: NetnsRef;
  let nodeName: string;
  let statusDir: string;
  let felix: FelixLoop | null = null;

  beforeAll(async () => {
    if (!existsSync(PLUGIN)) throw new Error(`${PLUGIN} does not exist: run \`npm run build\` first`);
    etcd = await startEtcd();
    ds = createEtcdDatastore({ endpoints: [etcd.endpoint] });
    await createIpPool(ds, 'wait-pool', `10.250.${subnet}.0/24`);
    binDir = await makePluginDir({ tortie: PLUGIN });
  });
  afterAll(async () => {
    await ds?.close();
    await etcd?.stop();
    if (binDir) await rm(binDir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    node = await h.makeNetns('node');
    nodeName = uniqueName('wait-', 6);
    await h.hostIp.inNetns(node).batch(['link set lo up']);
    await h.forwardLoopbackPort(node, Number(new URL(etcd.endpoint).port));
    statusDir = join(await mkdtemp(join(tmpdir(), 'tortie-status-')), 'endpoint-status');
  });
  afterEach(async () => {
    await felix?.stop();
    felix = null;
    await runCommand('nft', ['delete', 'table', NFT_TABLE_FAMILY, NFT_TABLE_NAME], { netns: node.path }).catch(() => undefined);
    await rm(dirname(statusDir), { recursive: true, force: true });
    await h.cleanup();
  });

  function startFelix(): FelixLoop {
    felix = new FelixLoop({
      datastore: ds,
      nodeName,
      table: new NftTable({ netns: node.path }),
      endpointStatus: new EndpointStatusFiles(statusDir),
      coalesceMs: FELIX_DELAY_MS,
      refreshMs: 0,
    });
    felix.start();
    return felix;
  }

  function runner(extra: Record<string, unknown>) {
    return createCniRunner(
      {
        cniVersion: '1.0.0',
        name: NETWORK,
        plugins: [{ type: 'tortie', datastore_type: 'etcdv3', etcd_endpoints: etcd.endpoint, nodename: nodeName, mtu: 1400, ipam: { type: 'tortie-ipam' }, ...extra }],
      },
      { cniPath: [binDir], netns: node.path },
    );
  }

  async function pod(): Promise<{ rt: RuntimeConf; hostIfName: string }> {
    const ns = await h.makeNetns('p');
    const podName = uniqueName('web');
    const containerId = uniqueName('ctr', 16);
    return {
      rt: { containerId, netns: ns.path, ifName: 'eth0', args: { K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: podName, K8S_POD_INFRA_CONTAINER_ID: containerId } },
      hostIfName: hostVethName({ containerId, podNamespace: 'default', podName }),
    };
  }

  /** The interfaces in the workload dispatch maps (`nft -j list map`) of the node, per map. */
  async function dispatched(hostIfName: string): Promise<boolean[]> {
    return Promise.all(
      [MAP_TO_WORKLOAD, MAP_FROM_WORKLOAD].map(async (map) => {
        const out = await runCommand('nft', ['-j', 'list', 'map', NFT_TABLE_FAMILY, NFT_TABLE_NAME, map], { netns: node.path }).catch(() => '{"nftables":[]}');
        const maps = (JSON.parse(out) as { nftables: { map?: { elem?: unknown[] } }[] }).nftables.flatMap((o) => (o.map ? [o.map] : []));
        return maps.some((m) => JSON.stringify(m.elem ?? []).includes(JSON.stringify(hostIfName)));
      }),
    );
  }

  it('ADD returns only once the interface is in both dispatch maps; DEL makes felix remove the status file', async () => {
    const loop = startFelix();
    await loop.whenIdle();
    const p = await pod();
    const cni = runner({ policy_setup_timeout_seconds: 30, endpoint_status_dir: statusDir });

    const started = Date.now();
    const result: CniResult = await cni.add(p.rt);
    const addMs = Date.now() - started;
    expect(await dispatched(p.hostIfName)).toEqual([true, true]);
    expect(addMs).toBeGreaterThanOrEqual(FELIX_DELAY_MS);
    const address = (result['ips'] as { address: string }[])[0]!.address.split('/')[0];
    expect(JSON.parse(await readFile(join(statusDir, p.hostIfName), 'utf8'))).toEqual({
      endpoint: expect.stringMatching(/^default\//),
      interfaceName: p.hostIfName,
      addresses: [address],
    });

    await cni.del(p.rt, result);
    await pollUntil('felix to remove the status file', async () => !existsSync(join(statusDir, p.hostIfName)), { timeoutMs: 20_000 });
    expect(await dispatched(p.hostIfName)).toEqual([false, false]);
    console.info(`policy wait: ADD took ${addMs} ms with felix applying ${FELIX_DELAY_MS} ms after each change`);
  });

  it('without the policy agent, ADD gives up after the timeout and succeeds; the pod is not dispatched (dropped as unknown)', async () => {
    const p = await pod();
    const cni = runner({ policy_setup_timeout_seconds: 1, endpoint_status_dir: statusDir });
    const started = Date.now();
    const result = await cni.add(p.rt);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect((result['ips'] as unknown[]).length).toBe(1);
    expect(existsSync(join(statusDir, p.hostIfName))).toBe(false);
    expect(await dispatched(p.hostIfName)).toEqual([false, false]);
    await cni.del(p.rt, result);
  });

  it('with no policy_setup_timeout_seconds, ADD does not wait and never looks at the status directory', async () => {
    const p = await pod();
    const cni = runner({ endpoint_status_dir: statusDir });
    const result = await cni.add(p.rt);
    expect(existsSync(statusDir)).toBe(false);
    await cni.del(p.rt, result);
  });
});
