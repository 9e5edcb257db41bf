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
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubernetesDatastore, type KubernetesDatastore } from '../../../lib/datastore/kubernetes.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import type { NetnsRef } from '../../../lib/kernel/netns.js';
import { FakeApiServer } from '../../harness/fake-apiserver.js';
import { checkRoles } from '../../harness/rbac.js';
import { createNetnsHarness, kernelAccessProblem, pollUntil, uniqueName, type NetnsHarness } from '../../harness/netns.js';
import { stopProcess } from '../../harness/process.js';
import { repo, rolesBoundTo, workloadContainer, type Probe } from './tortie-yaml.test-helpers.js';

const problem = await kernelAccessProblem();
if (problem !== null) console.warn(`skipping test/integration/manifests/node-daemonset.test.ts: ${problem}`);

const NODE = 'tt-ds-node';
const { container, serviceAccount, env: manifestEnv } = workloadContainer('DaemonSet', 'tortie-node', 'tortie-node', NODE);

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
      ...manifestEnv,
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
      await pollUntil('the readiness probe answers 200', async () => (await httpStatus(container.readinessProbe!)) === 200, { timeoutMs: 45_000 }).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}\n--- tortie ${container.command.slice(1).join(' ')} ---\n${output}`);
      });
      expect(await httpStatus(container.livenessProbe!)).toBe(200);
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
