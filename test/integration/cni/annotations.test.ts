/**
 * The built tortie-cni executable and the Pod behind a call, both modes:
 * - etcd mode (real etcd): pool choice by `tortie.dev/ipv4pools`, fixed
 *   addresses by `tortie.dev/ipAddrs`, and the WorkloadEndpoint carrying the
 *   pod's labels, service account and named ports, read from the Pod stored in etcd;
 * - Kubernetes mode (the in-repo fake API server): ADD records the addresses
 *   in the Pod's `tortie.dev/podIP`/`podIPs` annotations and DEL removes them.
 * Pools are inside the tests' 10.250.0.0/16. Needs `npm run build` first.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { randomInt } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ANNOTATION_IP_ADDRS, ANNOTATION_IPV4_POOLS, ANNOTATION_POD_IP, ANNOTATION_POD_IPS, TORTIE_API_VERSION, ipamHandleId } from '../../../lib/contract.js';
import { createEtcdDatastore, type EtcdDatastore } from '../../../lib/datastore/etcd.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import { createKubernetesDatastore, type KubernetesDatastore } from '../../../lib/datastore/kubernetes.js';
import type { Datastore, StoredObject } from '../../../lib/datastore/types.js';
import type { NetnsRef } from '../../../lib/kernel/netns.js';
import { hostVethName } from '../../../cni/src/plan.js';
import { specProblems } from '../../../cni/src/testdata/schemas.js';
import { ETCD_BINARY, startEtcd, type EtcdInstance } from '../../harness/etcd.js';
import { FakeApiServer } from '../../harness/fake-apiserver.js';
import { checkRoles, readManifest } from '../../harness/rbac.js';
import { createNetnsHarness, keepGatewayRouteAsFound, kernelAccessProblem, uniqueName } from '../../harness/netns.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const PLUGIN = join(repo, 'dist/cni/src/main.js');
const NODE = 'tt-node1';
const NETWORK = 'k8s-pod-network';
/** The plugin's identity towards the API server, and the role that must cover what it does. */
const CNI_USER = 'tortie-cni';
const RBAC_CNI = 'manifests/rbac-cni.yaml';
/** What the role must grant although these tests cannot make the plugin use it, and why. */
const CNI_GRANTS_NOT_EXERCISED: Record<string, string> = {
  'crd.tortie.dev blockaffinities delete': 'another node created the block first: the pending affinity is removed (BlockStore.claimBlock)',
};

const problem =
  (await kernelAccessProblem()) ??
  (existsSync(ETCD_BINARY) ? null : `${ETCD_BINARY} is missing (Debian package etcd-server)`);
if (problem !== null) console.warn(`skipping test/integration/cni/annotations.test.ts: ${problem}`);

const subnet = randomInt(1, 247);
const POOL_A = `10.250.${subnet}.0/24`;
const POOL_B = `10.250.${subnet + 1}.0/24`;
const POOL_K = `10.250.${subnet + 2}.0/24`;

interface CniCall {
  exitCode: number;
  stdout: string;
  stderr: string;
  json: Record<string, unknown> | null;
}

if (problem === null) keepGatewayRouteAsFound();

function pool(name: string, cidr: string, blockSize = 28): StoredObject {
  return {
    apiVersion: TORTIE_API_VERSION,
    kind: 'IPPool',
    metadata: { name },
    spec: { cidr, blockSize, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false, disabled: false },
  };
}

function podObject(name: string, extra: { annotations?: Record<string, string>; labels?: Record<string, string>; spec?: Record<string, unknown> } = {}): StoredObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', ...(extra.labels ? { labels: extra.labels } : {}), ...(extra.annotations ? { annotations: extra.annotations } : {}) },
    spec: { nodeName: NODE, containers: [{ name: 'main', image: 'x' }], ...extra.spec },
  };
}

async function cni(command: string, env: Record<string, string>, stdin: string): Promise<CniCall> {
  const r = await execa('node', [PLUGIN], {
    input: stdin,
    reject: false,
    env: { CNI_COMMAND: command, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni', ...env },
    extendEnv: false,
    timeout: 60_000,
  });
  let json: Record<string, unknown> | null = null;
  if (r.stdout.trim() !== '') json = JSON.parse(r.stdout) as Record<string, unknown>;
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, json };
}

function addressOf(call: CniCall): string {
  return (call.json as { ips: { address: string }[] }).ips[0]!.address;
}

describe.skipIf(problem !== null)('tortie-cni and the Pod behind the call', () => {
  const h = createNetnsHarness();
  afterEach(async () => {
    await h.cleanup();
  });

  /** A pod network namespace and the CNI_* variables of its sandbox. */
  async function sandbox(podName = uniqueName('web')): Promise<{ ns: NetnsRef; env: Record<string, string>; podName: string; containerId: string }> {
    const ns = await h.makeNetns('pod');
    const containerId = uniqueName('ctr', 16);
    h.trackHostLink(hostVethName({ containerId, podNamespace: 'default', podName }));
    return {
      ns,
      podName,
      containerId,
      env: {
        CNI_CONTAINERID: containerId,
        CNI_NETNS: ns.path,
        CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${podName};K8S_POD_INFRA_CONTAINER_ID=${containerId}`,
      },
    };
  }

  async function handleOf(ds: Datastore, containerId: string): Promise<StoredObject | null> {
    return ds.get(Kinds.IPAMHandle, ipamHandleId(NETWORK, containerId).toLowerCase());
  }

  describe('etcd mode', () => {
    let etcd: EtcdInstance;
    let ds: EtcdDatastore;

    beforeAll(async () => {
      if (!existsSync(PLUGIN)) throw new Error(`${PLUGIN} does not exist: run \`npm run build\` first`);
      etcd = await startEtcd();
      ds = createEtcdDatastore({ endpoints: [etcd.endpoint] });
      await ds.create(Kinds.IPPool, pool('pool-a', POOL_A));
      await ds.create(Kinds.IPPool, pool('pool-b', POOL_B));
    });
    afterAll(async () => {
      await ds?.close();
      await etcd?.stop();
    });

    const config = (): string =>
      JSON.stringify({
        cniVersion: '1.0.0',
        name: NETWORK,
        type: 'tortie',
        datastore_type: 'etcdv3',
        etcd_endpoints: etcd.endpoint,
        nodename: NODE,
        mtu: 1500,
        ipam: { type: 'tortie-ipam' },
      });

    const wepName = (podName: string) => `${NODE.replaceAll('-', '--')}-k8s-${podName.replaceAll('-', '--')}-eth0`;

    it('a pod annotated tortie.dev/ipv4pools ["pool-b"] gets its address from pool-b; DEL releases it', async () => {
      const p = await sandbox();
      await ds.create(Kinds.K8sPod, podObject(p.podName, { annotations: { [ANNOTATION_IPV4_POOLS]: '["pool-b"]' } }));
      const add = await cni('ADD', p.env, config());
      expect(add.stderr).toBe('');
      expect(add.exitCode).toBe(0);
      expect(specProblems('result', add.json)).toEqual([]);
      expect(addressOf(add)).toMatch(new RegExp(`^10\\.250\\.${subnet + 1}\\.\\d+/32$`));
      expect(await cni('DEL', p.env, config())).toMatchObject({ exitCode: 0, stdout: '' });
      expect(await handleOf(ds, p.containerId)).toBeNull();
      await ds.delete(Kinds.K8sPod, p.podName, 'default');
    });

    it('a pod annotated tortie.dev/ipAddrs gets exactly that address, and ADD again gives it again', async () => {
      const p = await sandbox();
      const fixed = `10.250.${subnet}.77`;
      await ds.create(Kinds.K8sPod, podObject(p.podName, { annotations: { [ANNOTATION_IP_ADDRS]: `["${fixed}"]` } }));
      const add = await cni('ADD', p.env, config());
      expect(add.exitCode).toBe(0);
      expect(addressOf(add)).toBe(`${fixed}/32`);
      expect(addressOf(await cni('ADD', p.env, config()))).toBe(`${fixed}/32`);
      expect(await h.ping(null, fixed)).toBe(true);

      // Another pod asking for the same address is refused, and keeps nothing.
      const q = await sandbox();
      await ds.create(Kinds.K8sPod, podObject(q.podName, { annotations: { [ANNOTATION_IP_ADDRS]: `["${fixed}"]` } }));
      const taken = await cni('ADD', q.env, config());
      expect(taken.exitCode).toBe(1);
      expect(taken.json).toMatchObject({ code: 101, msg: expect.stringContaining(fixed) });
      expect(await handleOf(ds, q.containerId)).toBeNull();

      expect(await cni('DEL', p.env, config())).toMatchObject({ exitCode: 0, stdout: '' });
      expect(await handleOf(ds, p.containerId)).toBeNull();
      await ds.delete(Kinds.K8sPod, p.podName, 'default');
      await ds.delete(Kinds.K8sPod, q.podName, 'default');
    });

    it('a malformed pool annotation is an invalid-config error naming the annotation', async () => {
      const p = await sandbox();
      await ds.create(Kinds.K8sPod, podObject(p.podName, { annotations: { [ANNOTATION_IPV4_POOLS]: 'pool-b' } }));
      const add = await cni('ADD', p.env, config());
      expect(add.exitCode).toBe(1);
      expect(add.json).toMatchObject({ code: 7, msg: expect.stringContaining(ANNOTATION_IPV4_POOLS) });
      expect(await handleOf(ds, p.containerId)).toBeNull();
      expect(await h.hostIp.link(hostVethName({ containerId: p.containerId, podNamespace: 'default', podName: p.podName }))).toBeNull();
      await ds.delete(Kinds.K8sPod, p.podName, 'default');
    });

    it("the WorkloadEndpoint carries the pod's labels, service account and named ports", async () => {
      const p = await sandbox();
      await ds.create(
        Kinds.K8sPod,
        podObject(p.podName, {
          labels: { app: 'web', tier: 'front' },
          spec: { serviceAccountName: 'web-sa', containers: [{ name: 'main', image: 'x', ports: [{ name: 'http', containerPort: 8080 }, { containerPort: 9000 }] }] },
        }),
      );
      const add = await cni('ADD', p.env, config());
      expect(add.exitCode).toBe(0);
      const wep = await ds.get<StoredObject & { spec: Record<string, unknown> }>(Kinds.WorkloadEndpoint, wepName(p.podName), 'default');
      expect(wep?.metadata.labels).toEqual({
        app: 'web',
        tier: 'front',
        'projectcalico.org/namespace': 'default',
        'projectcalico.org/orchestrator': 'k8s',
        'projectcalico.org/serviceaccount': 'web-sa',
      });
      expect(wep?.spec).toMatchObject({
        serviceAccountName: 'web-sa',
        ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
        profiles: ['kns.default', 'ksa.default.web-sa'],
        ipNetworks: [addressOf(add)],
      });
      expect(await cni('DEL', p.env, config())).toMatchObject({ exitCode: 0, stdout: '' });
      expect(await ds.get(Kinds.WorkloadEndpoint, wepName(p.podName), 'default')).toBeNull();
      await ds.delete(Kinds.K8sPod, p.podName, 'default');
    });

    it('without a Pod in the datastore (a runtime with no Kubernetes), the config pools apply as before', async () => {
      const p = await sandbox();
      h.trackHostLink(hostVethName({ containerId: p.containerId }));
      const add = await cni('ADD', { ...p.env, CNI_ARGS: '' }, config());
      expect(add.exitCode).toBe(0);
      expect(addressOf(add)).toMatch(/^10\.250\.\d+\.\d+\/32$/);
      expect(await cni('DEL', { ...p.env, CNI_ARGS: '' }, config())).toMatchObject({ exitCode: 0, stdout: '' });
      expect(await handleOf(ds, p.containerId)).toBeNull();
    });
  });

  describe('Kubernetes mode (fake API server)', () => {
    let api: FakeApiServer;
    let ds: KubernetesDatastore;
    let dir: string;
    /** The plugin's kubeconfig: its requests are recorded under CNI_USER, the test's own under no user. */
    let kubeconfig: string;

    beforeAll(async () => {
      if (!existsSync(PLUGIN)) throw new Error(`${PLUGIN} does not exist: run \`npm run build\` first`);
      api = await FakeApiServer.start();
      dir = await mkdtemp(join(tmpdir(), 'tt-cni-k8s-'));
      kubeconfig = await api.writeKubeconfig(dir, { fileName: 'tortie-kubeconfig', user: CNI_USER });
      ds = createKubernetesDatastore({ kubeconfigPath: await api.writeKubeconfig(dir) });
      api.put(Kinds.IPPool, pool('pool-k', POOL_K));
    });
    afterAll(async () => {
      await ds?.close();
      await api?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    const config = (extra: Record<string, unknown> = {}): string =>
      JSON.stringify({
        cniVersion: '1.0.0',
        name: NETWORK,
        type: 'tortie',
        datastore_type: 'kubernetes',
        kubernetes: { kubeconfig },
        nodename: NODE,
        mtu: 1500,
        ipam: { type: 'tortie-ipam' },
        ...extra,
      });

    it('ADD records the address in the Pod annotations; DEL removes them and releases the address', async () => {
      const p = await sandbox();
      api.put(Kinds.K8sPod, podObject(p.podName, { labels: { app: 'web' }, annotations: { keep: 'me' } }));
      const add = await cni('ADD', p.env, config());
      expect(add.stderr).toBe('');
      expect(add.exitCode).toBe(0);
      expect(specProblems('result', add.json)).toEqual([]);
      const address = addressOf(add);
      expect(address).toMatch(new RegExp(`^10\\.250\\.${subnet + 2}\\.\\d+/32$`));
      expect(await h.ping(null, address.split('/')[0]!)).toBe(true);

      const pod = await ds.get(Kinds.K8sPod, p.podName, 'default');
      expect(pod?.metadata.annotations).toEqual({ keep: 'me', [ANNOTATION_POD_IP]: address, [ANNOTATION_POD_IPS]: address });
      expect(pod?.metadata.labels).toEqual({ app: 'web' });
      expect(await handleOf(ds, p.containerId)).not.toBeNull();
      expect((await ds.list(Kinds.WorkloadEndpoint)).items).toEqual([]);

      expect(await cni('DEL', p.env, config())).toMatchObject({ exitCode: 0, stdout: '' });
      expect((await ds.get(Kinds.K8sPod, p.podName, 'default'))?.metadata.annotations).toEqual({ keep: 'me' });
      expect(await handleOf(ds, p.containerId)).toBeNull();
      expect(await cni('DEL', p.env, config())).toMatchObject({ exitCode: 0, stdout: '' });
      api.remove(Kinds.K8sPod, p.podName, 'default');
    });

    it('a DEL after the Pod is gone succeeds and releases the address', async () => {
      const p = await sandbox();
      api.put(Kinds.K8sPod, podObject(p.podName));
      expect((await cni('ADD', p.env, config())).exitCode).toBe(0);
      api.remove(Kinds.K8sPod, p.podName, 'default');
      expect(await cni('DEL', p.env, config())).toMatchObject({ exitCode: 0, stdout: '' });
      expect(await handleOf(ds, p.containerId)).toBeNull();
    });

    it("an old sandbox's DEL, repeated after a newer sandbox of the same pod recorded its address, leaves that address", async () => {
      const podName = uniqueName('web');
      api.put(Kinds.K8sPod, podObject(podName));
      const old = await sandbox(podName);
      expect((await cni('ADD', old.env, config())).exitCode).toBe(0);
      // The runtime replaces the sandbox; the new one (a fresh netns, the same pod) records its address.
      const fresh = await sandbox(podName);
      expect(await cni('DEL', old.env, config())).toMatchObject({ exitCode: 0 });
      const add = await cni('ADD', fresh.env, config());
      expect(add.exitCode).toBe(0);
      const address = addressOf(add);
      expect(await cni('DEL', old.env, config())).toMatchObject({ exitCode: 0 });
      expect((await ds.get(Kinds.K8sPod, podName, 'default'))?.metadata.annotations).toMatchObject({ [ANNOTATION_POD_IP]: address });
      expect(await cni('DEL', fresh.env, config())).toMatchObject({ exitCode: 0 });
      expect((await ds.get(Kinds.K8sPod, podName, 'default'))?.metadata.annotations ?? {}).toEqual({});
      api.remove(Kinds.K8sPod, podName, 'default');
    });

    it('a namespace annotation chooses the pool when the pod has none', async () => {
      api.put(Kinds.IPPool, pool('pool-k2', `10.250.${subnet + 3}.0/24`));
      api.put(Kinds.K8sNamespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default', annotations: { [ANNOTATION_IPV4_POOLS]: '["pool-k2"]' } } });
      try {
        const p = await sandbox();
        api.put(Kinds.K8sPod, podObject(p.podName));
        const add = await cni('ADD', p.env, config());
        expect(add.exitCode).toBe(0);
        expect(addressOf(add)).toMatch(new RegExp(`^10\\.250\\.${subnet + 3}\\.\\d+/32$`));
        expect(await cni('DEL', p.env, config())).toMatchObject({ exitCode: 0 });
        api.remove(Kinds.K8sPod, p.podName, 'default');
      } finally {
        api.remove(Kinds.K8sNamespace, 'default');
        api.remove(Kinds.IPPool, 'pool-k2');
      }
    });

    it('STATUS answers from the API server; GC releases the addresses of an attachment the runtime no longer lists', async () => {
      expect(await cni('STATUS', {}, config({ cniVersion: '1.1.0' }))).toMatchObject({ exitCode: 0, stdout: '' });
      // Dual stack: the second family's block is added to the handle the first one created.
      api.put(Kinds.IPPool, pool('pool-k6', `fd74:7275:${subnet.toString(16)}::/120`, 124));
      const p = await sandbox();
      api.put(Kinds.K8sPod, podObject(p.podName));
      const add = await cni('ADD', p.env, config({ ipam: { type: 'tortie-ipam', assign_ipv6: 'true' } }));
      expect(add.exitCode).toBe(0);
      expect((add.json as { ips: unknown[] }).ips).toHaveLength(2);
      expect(await handleOf(ds, p.containerId)).not.toBeNull();
      const gc = await cni('GC', {}, config({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] }));
      expect(gc).toMatchObject({ exitCode: 0, stdout: '' });
      expect(await handleOf(ds, p.containerId)).toBeNull();
      expect(await cni('DEL', p.env, config())).toMatchObject({ exitCode: 0 });
      api.remove(Kinds.K8sPod, p.podName, 'default');
      api.remove(Kinds.IPPool, 'pool-k6');
    });

    // Last in this block: it judges what the tests above made the plugin do.
    it(`every request the plugin made is allowed by ${RBAC_CNI}, which grants nothing else`, async () => {
      const requests = api.requests.filter((r) => r.user === CNI_USER);
      expect(requests.length).toBeGreaterThan(0);
      const roles = await readManifest(join(repo, RBAC_CNI));
      expect(checkRoles(roles, requests)).toEqual({ denied: [], unused: Object.keys(CNI_GRANTS_NOT_EXERCISED) });
    });
  });
});
