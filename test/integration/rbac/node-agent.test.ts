/**
 * RBAC of the node agent (manifests/rbac-node.yaml) without a cluster: its
 * startup (`tortie node init`: Node, default pool, tunnel address), the
 * policy agent's loop (FelixLoop, Kubernetes mode) and the BGP speaker's
 * datastore side (DatastoreMirror) run against the in-repo API server as the
 * user `tortie-node`, through a sync and a round of changes; every request
 * they made must be allowed by the manifest's roles, and the roles must grant
 * nothing else. The kernel is left out (a table that records nothing), since
 * RBAC is only about the API server.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatastoreMirror } from '../../../bgp-speaker/src/main.js';
import { parseNodeStartupConfig } from '../../../cli/src/node/config.js';
import { runNodeStartup, type HostView } from '../../../cli/src/node/startup.js';
import type { ApplyResult } from '../../../felix/src/dataplane/nft-table.js';
import { FelixLoop, type DataplaneTable } from '../../../felix/src/loop.js';
import { TORTIE_API_VERSION } from '../../../lib/contract.js';
import { createKubernetesDatastore, type KubernetesDatastore } from '../../../lib/datastore/kubernetes.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import { createLogger } from '../../../lib/log.js';
import { FakeApiServer } from '../../harness/fake-apiserver.js';
import { pollUntil } from '../../harness/netns.js';
import { checkRoles, readManifest } from '../../harness/rbac.js';

const NODE_USER = 'tortie-node';
const RBAC_NODE = fileURLToPath(new URL('../../../manifests/rbac-node.yaml', import.meta.url));
const RBAC_CNI = fileURLToPath(new URL('../../../manifests/rbac-cni.yaml', import.meta.url));
const up = { flags: ['UP'], isUp: true, mtu: 1500, operState: 'UP', macAddress: '', kind: null, peerIfindex: null, peerNetnsId: null };
/** What startup's address autodetection sees: one interface with one address. */
const HOST: HostView = {
  links: [{ ifindex: 2, name: 'eth0', ...up }],
  addresses: [{ ifindex: 2, ifname: 'eth0', family: 4, address: '192.0.2.10', prefixLength: 24, scope: 'global', isTentative: false, hasNoDad: false }],
  routeSource: { 4: null, 6: null },
};
const NAMESPACE = 'kube-system';

/** The dataplane left out: every apply succeeds and writes nothing. */
const tableWithoutKernel: DataplaneTable = {
  setDesired() {},
  async apply(): Promise<ApplyResult> {
    return { kind: 'none', commands: 0, summary: { chains: 0, deletedChains: 0, sets: 0, deletedSets: 0, elementsAdded: 0, elementsDeleted: 0 } };
  },
  retryDelayMs: () => 0,
  ready: true,
};

describe('node agent RBAC (in-repo API server)', () => {
  let api: FakeApiServer;
  let dir: string;
  let agentDs: KubernetesDatastore;

  beforeAll(async () => {
    api = await FakeApiServer.start();
    dir = await mkdtemp(join(tmpdir(), 'tortie-rbac-'));
    agentDs = createKubernetesDatastore({ kubeconfigPath: await api.writeKubeconfig(dir, { user: NODE_USER }) });
  });
  afterAll(async () => {
    await agentDs?.close();
    await api?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(`every request of startup, the policy agent and the BGP speaker is allowed by manifests/rbac-node.yaml, which grants nothing else`, async () => {
    const log = createLogger({ level: 'silent' });
    // Startup, twice (a first start, then a restart): the Node, the default pool (VXLAN, so the
    // node also takes its tunnel address from IPAM).
    const startupConfig = parseNodeStartupConfig({ CALICO_IPV4POOL_CIDR: '10.244.0.0/16', CALICO_IPV4POOL_VXLAN: 'Always', CALICO_IPV4POOL_IPIP: 'Never' });
    const shell = { datastore: agentDs, readHost: async () => HOST, nodeNameFile: join(dir, 'nodename'), osHostname: () => 'n1' };
    expect(await runNodeStartup(startupConfig, shell)).toMatchObject({ nodeName: 'n1', isNodeWritten: true, poolsCreated: ['default-ipv4-ippool'], tunnels: expect.arrayContaining([expect.objectContaining({ kind: 'vxlan', action: 'allocate' })]) });
    await runNodeStartup(startupConfig, shell);

    const felix = new FelixLoop({ datastore: agentDs, nodeName: 'n1', table: tableWithoutKernel, coalesceMs: 5, refreshMs: 0 });
    let speakerChanges = 0;
    const mirror = new DatastoreMirror(agentDs, NAMESPACE, log, () => speakerChanges++);
    felix.start();
    mirror.start();
    try {
      await felix.whenIdle();
      await pollUntil('the speaker to sync', async () => mirror.hasSynced);

      // A round of changes both follow.
      api.put(Kinds.K8sNamespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'web' } });
      api.put(Kinds.K8sPod, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', namespace: 'web', annotations: { 'tortie.dev/podIPs': '10.0.0.1/32' } }, spec: { nodeName: 'n1', containers: [] } });
      api.put(Kinds.K8sNetworkPolicy, { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'deny', namespace: 'web' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } });
      const before = speakerChanges;
      api.put(Kinds.BGPPeer, { apiVersion: TORTIE_API_VERSION, kind: 'BGPPeer', metadata: { name: 'tor' }, spec: { peerIP: '10.0.0.254', asNumber: 65000 } });
      await pollUntil('the speaker to see the peer', async () => speakerChanges > before);
      await new Promise((r) => setTimeout(r, 50));
      await felix.whenIdle();
    } finally {
      mirror.stop();
      await felix.stop();
    }

    const requests = api.requests.filter((r) => r.user === NODE_USER);
    expect(requests.length).toBeGreaterThan(0);
    // The node agent also hosts the CNI agent, which does the plugin's work with the node's account:
    // rbac-node.yaml binds tortie-cni's role too, and that role is judged by the CNI tests.
    const cniRole = (await readManifest(RBAC_CNI)).filter((o) => o.kind === 'ClusterRole');
    const nodeObjects = await readManifest(RBAC_NODE);
    expect(nodeObjects.filter((o) => o.kind === 'ClusterRoleBinding' && o.subjects?.some((s) => s.name === NODE_USER)).map((o) => o.roleRef?.name).sort()).toEqual(['tortie-cni', 'tortie-node']);
    expect(checkRoles(nodeObjects, requests, cniRole)).toEqual({ denied: [], unused: [] });
  });
});
