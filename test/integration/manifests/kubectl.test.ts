/**
 * kubectl itself reads manifests/tortie.yaml: `kubectl apply --dry-run=client`
 * decodes every document and maps each kind to a resource through discovery.
 * No API server can run here, and test/harness/fake-apiserver.ts serves no
 * discovery, so this test serves just that: the API groups, versions and
 * resources of the kinds a cluster has (not read from the file, so an unknown
 * kind or apiVersion fails), and 404 for every object (nothing installed yet).
 * --validate=false: kubectl's schema validation needs the server's OpenAPI
 * document, which only a real API server has.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const TORTIE_YAML = join(repo, 'manifests/tortie.yaml');

function kubectlProblem(): string | null {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 30_000 });
    return null;
  } catch {
    return 'kubectl is not installed (Debian: kubernetes-client)';
  }
}
const problem = kubectlProblem();

interface Resource {
  name: string;
  kind: string;
  namespaced: boolean;
}
/** group/version → resources, as a Kubernetes 1.2x API server lists them (the kinds tortie.yaml may use). */
const served: Record<string, Resource[]> = {
  v1: [
    { name: 'configmaps', kind: 'ConfigMap', namespaced: true },
    { name: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true },
    { name: 'secrets', kind: 'Secret', namespaced: true },
    { name: 'services', kind: 'Service', namespaced: true },
    { name: 'namespaces', kind: 'Namespace', namespaced: false },
  ],
  'apps/v1': [
    { name: 'daemonsets', kind: 'DaemonSet', namespaced: true },
    { name: 'deployments', kind: 'Deployment', namespaced: true },
  ],
  'apiextensions.k8s.io/v1': [{ name: 'customresourcedefinitions', kind: 'CustomResourceDefinition', namespaced: false }],
  'rbac.authorization.k8s.io/v1': [
    { name: 'clusterroles', kind: 'ClusterRole', namespaced: false },
    { name: 'clusterrolebindings', kind: 'ClusterRoleBinding', namespaced: false },
    { name: 'roles', kind: 'Role', namespaced: true },
    { name: 'rolebindings', kind: 'RoleBinding', namespaced: true },
  ],
  'policy/v1': [{ name: 'poddisruptionbudgets', kind: 'PodDisruptionBudget', namespaced: true }],
};

function discoveryServer(): Server {
  const verbs = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
  const groups = Object.keys(served).filter((gv) => gv.includes('/'));
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET') return send(405, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 405 });
    if (path === '/api') return send(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] });
    if (path === '/apis') {
      return send(200, {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: groups.map((gv) => {
          const [name, version] = gv.split('/') as [string, string];
          return { name, versions: [{ groupVersion: gv, version }], preferredVersion: { groupVersion: gv, version } };
        }),
      });
    }
    const gv = path === '/api/v1' ? 'v1' : path.startsWith('/apis/') ? path.slice('/apis/'.length) : null;
    const resources = gv === null ? undefined : served[gv];
    if (resources !== undefined) {
      return send(200, {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: gv,
        resources: resources.map((r) => ({ name: r.name, singularName: r.kind.toLowerCase(), namespaced: r.namespaced, kind: r.kind, verbs })),
      });
    }
    send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${path} not found` });
  });
}

describe.skipIf(problem !== null)(`kubectl apply --dry-run=client -f manifests/tortie.yaml${problem === null ? '' : ` (skipped: ${problem})`}`, () => {
  let server: Server;
  let dir: string;
  let kubeconfig: string;
  beforeAll(async () => {
    server = discoveryServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    dir = await mkdtemp(join(tmpdir(), 'tt-manifests-kubectl-'));
    kubeconfig = join(dir, 'kubeconfig');
    const { port } = server.address() as AddressInfo;
    await writeFile(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:${port}\nusers:\n- name: u\n  user: {}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\n`,
    );
  });
  afterAll(async () => {
    server?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('kubectl maps every document to a resource and would create each one', async () => {
    const r = await execa('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), 'apply', '--dry-run=client', '--validate=false', '-f', TORTIE_YAML], {
      reject: false,
      timeout: 60_000,
      env: { HOME: dir },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const objects = parseAllDocuments(readFileSync(TORTIE_YAML, 'utf8'))
      .map((d) => d.toJS() as { kind: string; metadata: { name: string } } | null)
      .filter((o) => o !== null);
    expect(lines).toHaveLength(objects.length);
    for (const line of lines) expect(line).toMatch(/^[a-z0-9.]+\/[a-z0-9.-]+ created \(dry run\)$/);
    expect(lines).toContain('daemonset.apps/tortie-node created (dry run)');
    expect(lines).toContain('deployment.apps/tortie-kube-controllers created (dry run)');
    expect(lines).toContain('customresourcedefinition.apiextensions.k8s.io/ippools.crd.tortie.dev created (dry run)');
  });

  it('the check bites: kubectl refuses a kind the server does not serve', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'apiVersion: apps/v1\nkind: DaemonSett\nmetadata:\n  name: x\n  namespace: kube-system\n');
    const r = await execa('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), 'apply', '--dry-run=client', '--validate=false', '-f', bad], {
      reject: false,
      timeout: 60_000,
      env: { HOME: dir },
    });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('DaemonSett');
  });
});
