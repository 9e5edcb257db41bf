import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { BlockStore, type IpamBlockObject } from '../../../cni/src/ipam/block-store.js';
import type { PoolInfo } from '../../../cni/src/ipam/allocate.js';
import { createKubernetesDatastore, type KubernetesDatastore } from '../../../lib/datastore/kubernetes.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import { TORTIE_API_VERSION, ipamHandleId } from '../../../lib/contract.js';
import { IpamGarbageCollector } from '../../../controllers/src/ipam-gc/controller.js';
import { NodeCleanupController } from '../../../controllers/src/node-cleanup/controller.js';
import { FakeApiServer } from '../../harness/fake-apiserver.js';
import { checkRoles, readManifest } from '../../harness/rbac.js';

// The same controllers in kubernetes mode, through the kubernetes datastore
// backend against the in-repo API server (no real kube-apiserver here).
// Pods and Nodes are core kinds the backend only reads, so the test writes
// them straight into the server.
const POOLS: PoolInfo[] = [{ name: 'default-ipv4-ippool', spec: { cidr: '10.89.0.0/24', blockSize: 28 } }];
const log = pino({ level: process.env['LOG_LEVEL'] ?? 'silent' });
const CONTROLLERS_USER = 'tortie-kube-controllers';
const RBAC_CONTROLLERS = 'manifests/rbac-kube-controllers.yaml';
const handleOf = (pod: string) => ipamHandleId('k8s-pod-network', `ctr-${pod}`);

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('kube-controllers in kubernetes mode (in-repo API server)', () => {
  let api: FakeApiServer;
  let dir: string;
  let ds: KubernetesDatastore;
  /** The controllers' own client: its requests are recorded under CONTROLLERS_USER, the test's under no user. */
  let controllersDs: KubernetesDatastore;
  const stoppers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    api = await FakeApiServer.start();
    dir = await mkdtemp(join(tmpdir(), 'tortie-kc-'));
    ds = createKubernetesDatastore({ kubeconfigPath: await api.writeKubeconfig(dir) });
    controllersDs = createKubernetesDatastore({ kubeconfigPath: await api.writeKubeconfig(dir, { fileName: 'controllers-kubeconfig', user: CONTROLLERS_USER }) });
  });
  afterAll(async () => {
    for (const stop of stoppers) await stop();
    await controllersDs?.close();
    await ds?.close();
    await api?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('releases addresses of deleted pods, and everything of a deleted Kubernetes Node including its tortie Node', async () => {
    for (const n of ['n1', 'n2']) {
      api.put(Kinds.K8sNode, { apiVersion: 'v1', kind: 'Node', metadata: { name: n }, spec: {} });
      await ds.create(Kinds.Node, { apiVersion: TORTIE_API_VERSION, kind: 'Node', metadata: { name: n }, spec: {} });
    }
    const store = new BlockStore(ds);
    const ips = new Map<string, string>();
    for (const [node, pod] of [['n1', 'a'], ['n1', 'b'], ['n1', 'gone'], ['n2', 'x']] as const) {
      const got = await store.autoAssign({ handleId: handleOf(pod), node, pools: POOLS, num4: 1, num6: 0, attributes: { node, namespace: 'default', pod } });
      ips.set(pod, got.ipv4[0]!);
    }
    for (const [node, pod] of [['n1', 'a'], ['n1', 'b'], ['n2', 'x']] as const) {
      api.put(Kinds.K8sPod, { apiVersion: 'v1', kind: 'Pod', metadata: { name: pod, namespace: 'default' }, spec: { nodeName: node, containers: [] }, status: { podIP: ips.get(pod), podIPs: [{ ip: ips.get(pod) }] } });
    }

    const gc = new IpamGarbageCollector({ datastore: controllersDs, log, gracePeriodMs: 300, resyncIntervalMs: 500 });
    const cleanup = new NodeCleanupController({ datastore: controllersDs, log, gracePeriodMs: 300, resyncIntervalMs: 500 });
    stoppers.push(() => gc.stop(), () => cleanup.stop());
    gc.start();
    cleanup.start();
    await gc.reconciler.waitForSync();
    await cleanup.reconciler.waitForSync();

    await until(async () => (await ds.get(Kinds.IPAMHandle, handleOf('gone'))) === null, 'the handle of the pod that never existed to go');
    expect(await ds.get(Kinds.IPAMHandle, handleOf('a'))).not.toBeNull();
    expect(await ds.get(Kinds.IPAMHandle, handleOf('b'))).not.toBeNull();

    api.remove(Kinds.K8sNode, 'n2');
    await until(async () => (await ds.get(Kinds.Node, 'n2')) === null, 'the tortie Node of n2 to go');
    await until(async () => (await ds.list<IpamBlockObject>(Kinds.IPAMBlock)).items.every((b) => b.spec.affinity !== 'host:n2'), 'the block of n2 to go');
    expect(await ds.get(Kinds.IPAMHandle, handleOf('x'))).toBeNull();
    expect((await ds.list(Kinds.BlockAffinity)).items.map((a) => (a.spec as { node: string }).node)).toEqual(['n1']);
    expect(await ds.get(Kinds.Node, 'n1')).not.toBeNull();
  });
  // Last: it judges what the test above made the controllers do.
  it(`every request the controllers made is allowed by ${RBAC_CONTROLLERS}, which grants nothing else`, async () => {
    const requests = api.requests.filter((r) => r.user === CONTROLLERS_USER);
    expect(requests.length).toBeGreaterThan(0);
    const roles = await readManifest(fileURLToPath(new URL(`../../../${RBAC_CONTROLLERS}`, import.meta.url)));
    expect(checkRoles(roles, requests)).toEqual({ denied: [], unused: [] });
  });
});
