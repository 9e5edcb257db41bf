/**
 * The tortie-node DaemonSet's container as tortie.yaml configures it: the
 * built CLI runs the container's command with the container's environment,
 * resolved as the kubelet would (spec.nodeName, the ConfigMap's keys), inside
 * a "host" network namespace, against the in-repo API server in place of the
 * cluster's. Only what a cluster provides differently is replaced: the API
 * server (KUBECONFIG instead of the in-cluster service account) and, so that
 * tests running side by side do not collide, the status file, the CNI socket
 * and the node name file. It must register the node, create the default pool
 * from the manifest's CALICO_IPV4POOL_* settings, and answer the DaemonSet's
 * readiness and liveness probes on the host and port the probes name, with
 * every API request allowed by the roles tortie.yaml binds to the
 * DaemonSet's service account.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { createKubernetesDatastore, type KubernetesDatastore } from '../../../lib/datastore/kubernetes.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import type { NetnsRef } from '../../../lib/kernel/netns.js';
import { resolveContainerEnv, type ManifestConfigMap, type ManifestEnvVar } from '../../../manifests/src/container-env.js';
import { FakeApiServer } from '../../harness/fake-apiserver.js';
import { checkRoles, type ManifestObject } from '../../harness/rbac.js';
import { createNetnsHarness, kernelAccessProblem, pollUntil, uniqueName, type NetnsHarness } from '../../harness/netns.js';
import { stopProcess } from '../../harness/process.js';

const problem = await kernelAccessProblem();
if (problem !== null) console.warn(`skipping test/integration/manifests/node-daemonset.test.ts: ${problem}`);

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const NODE = 'tt-ds-node';

interface Probe {
  httpGet: { path: string; port: number; host: string };
}
interface Container {
  name: string;
  command: string[];
  env?: ManifestEnvVar[];
  livenessProbe: Probe;
  readinessProbe: Probe;
}
const objects = parseAllDocuments(await readFile(join(repo, 'manifests/tortie.yaml'), 'utf8')).map((d) => d.toJS() as { kind: string; metadata: { name: string } } | null);
const daemonSet = objects.find((o) => o?.kind === 'DaemonSet' && o.metadata.name === 'tortie-node') as unknown as { spec: { template: { spec: { containers: Container[]; serviceAccountName: string } } } };
const container = daemonSet.spec.template.spec.containers.find((c) => c.name === 'tortie-node')!;
const configMaps = objects.filter((o) => o?.kind === 'ConfigMap') as unknown as ManifestConfigMap[];
const serviceAccount = daemonSet.spec.template.spec.serviceAccountName;

/** The Roles and ClusterRoles tortie.yaml binds to a service account of kube-system. */
function rolesBoundTo(account: string): ManifestObject[] {
  const all = objects.filter((o) => o !== null) as unknown as ManifestObject[];
  const bound = all.filter((o) => (o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding') && o.subjects?.some((s) => s.kind === 'ServiceAccount' && s.name === account && s.namespace === 'kube-system'));
  return all.filter((o) => (o.kind === 'ClusterRole' || o.kind === 'Role') && bound.some((b) => b.roleRef?.kind === o.kind && b.roleRef.name === o.metadata.name));
}

describe.skipIf(problem !== null)('the tortie-node container of tortie.yaml', () => {
  let h: NetnsHarness;
  let api: FakeApiServer;
  let ds: KubernetesDatastore;
  let host: NetnsRef;
  let dir: string;

  beforeAll(async () => {
    h = createNetnsHarness();
    api = await FakeApiServer.start();
    dir = await mkdtemp(join(tmpdir(), 'tt-ds-'));
    ds = createKubernetesDatastore({ kubeconfigPath: await api.writeKubeconfig(dir, { fileName: 'test-kubeconfig' }) });
    host = await h.makeNetns('tdsh');
    const router = await h.makeNetns('tdsr');
    await h.makeVeth(uniqueName('d', 6), 'eth0', { aNs: router, bNs: host });
    await h.exec(host, 'ip', ['addr', 'add', '192.0.2.30/24', 'dev', 'eth0']);
    for (const dev of ['lo', 'eth0']) await h.exec(host, 'ip', ['link', 'set', dev, 'up']);
    await h.forwardLoopbackPort(host, api.port);
  }, 60_000);

  afterAll(async () => {
    await ds?.close();
    await h?.cleanup();
    await api?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const httpStatus = async (probe: Probe): Promise<number> => {
    const { host: address, port, path } = probe.httpGet;
    const script = `fetch('http://${address}:${port}${path}').then((r) => console.log(r.status), () => console.log(0))`;
    return Number((await h.exec(host, process.execPath, ['-e', script])).trim());
  };

  it('with only the cluster replaced, registers the node, creates the default pool and passes both probes', async () => {
    const env = {
      PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      ...resolveContainerEnv(container.env ?? [], configMaps, NODE),
      KUBECONFIG: await api.writeKubeconfig(dir, { user: serviceAccount }),
      TORTIE_STATUS_FILE: join(dir, 'bgp-status.json'),
      TORTIE_CNI_SOCKET: join(dir, 'cni', 'cni.sock'),
      FELIX_ENDPOINTSTATUSPATHPREFIX: dir,
    };
    expect(container.command[0]).toBe('tortie');
    const child = h.spawnIn(host, '/usr/bin/env', [
      '-i',
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      process.execPath,
      join(repo, 'dist/cli/src/main.js'),
      ...container.command.slice(1),
      '--nodename-file',
      join(dir, 'nodename'),
    ]);
    let output = '';
    child.stdout?.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (output += b.toString()));
    try {
      await pollUntil('the readiness probe answers 200', async () => (await httpStatus(container.readinessProbe)) === 200, { timeoutMs: 45_000 }).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}\n--- tortie ${container.command.slice(1).join(' ')} ---\n${output}`);
      });
      expect(await httpStatus(container.livenessProbe)).toBe(200);
      expect((await ds.get(Kinds.Node, NODE))?.spec).toMatchObject({ bgp: { ipv4Address: '192.0.2.30/24' } });
      expect((await ds.get(Kinds.IPPool, 'default-ipv4-ippool'))?.spec).toMatchObject({ cidr: '192.168.0.0/16', blockSize: 26, ipipMode: 'Always', vxlanMode: 'Never', natOutgoing: true });
      const requests = api.requests.filter((r) => r.user === serviceAccount);
      expect(requests.length).toBeGreaterThan(0);
      expect(rolesBoundTo(serviceAccount).map((r) => r.metadata.name).sort()).toEqual(['tortie-cni', 'tortie-node', 'tortie-node-secrets']);
      expect(checkRoles(rolesBoundTo(serviceAccount), requests).denied, 'requests the manifest\'s roles do not allow').toEqual([]);
    } finally {
      await stopProcess(child);
    }
  }, 90_000);
});
