import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseSpeakerConfig } from '../../bgp-speaker/src/main.js';
import { parseConfigFromEnv } from '../../cli/src/config.js';
import { parseNodeStartupConfig } from '../../cli/src/node/config.js';
import { buildProgram } from '../../cli/src/program.js';
import { parseCniInstallConfig } from '../../cni/src/install/config.js';
import { renderNetworkConfig } from '../../cni/src/install/network-config.js';
import { parseCniRequest } from '../../cni/src/request.js';
import { parseControllersConfig } from '../../controllers/src/config.js';
import { parseFelixConfig, startHealthServer } from '../../felix/src/main.js';
import { CNI_AGENT_SOCKET_ENV } from '../../lib/contract.js';
import { readManifestParts, TORTIE_YAML } from './generate.js';
import { resolveContainerEnv, type ManifestEnvVar } from './container-env.js';
import { imageFor, NAMESPACE, renderTortieYaml } from './tortie-yaml.js';

type Env = Record<string, string>;
type Obj = Record<string, unknown>;
interface Container {
  name: string;
  image: string;
  command: string[];
  env?: ManifestEnvVar[];
  volumeMounts?: { name: string; mountPath: string }[];
  livenessProbe?: { httpGet: { path: string; port: number; host?: string } };
  readinessProbe?: { httpGet: { path: string; port: number; host?: string } };
}
interface PodSpec {
  initContainers?: Container[];
  containers: Container[];
  volumes?: { name: string }[];
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  data?: Record<string, string>;
  spec?: { template?: { spec: PodSpec } };
}

const committed = readFileSync(TORTIE_YAML, 'utf8');
const documents = parseAllDocuments(committed);
const objects = documents.map((d) => d.toJS() as K8sObject | null).filter((o): o is K8sObject => o !== null);
const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
const podSpecs = objects.filter((o) => o.spec?.template?.spec !== undefined).map((o) => [o, o.spec!.template!.spec] as const);
const containers = podSpecs.flatMap(([owner, spec]) => [...(spec.initContainers ?? []), ...spec.containers].map((c) => [owner, c] as const));
const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** What the kubelet resolves a container's environment to on node `node-1` (plus what it sets in every pod). */
function resolvedEnv(container: Container): Env {
  const configMaps = objects.filter((o) => o.kind === 'ConfigMap') as { metadata: { name: string }; data?: Record<string, string> }[];
  return { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443', ...resolveContainerEnv(container.env ?? [], configMaps, 'node-1') };
}

/**
 * Each command's settings parsers, as the process runs them: the CLI's
 * datastore config for every `tortie` command, then the command's own.
 * `readDirectly` lists names a command reads without a parser.
 */
const parsersOf: Record<string, { parsers: ((env: Env) => unknown)[]; readDirectly: string[] }> = {
  'node run': {
    parsers: [parseConfigFromEnv, parseNodeStartupConfig, (env) => parseFelixConfig(env, 'node-1'), (env) => parseSpeakerConfig(env, 'node-1')],
    readDirectly: [CNI_AGENT_SOCKET_ENV, 'LOG_LEVEL'],
  },
  'cni install': { parsers: [parseConfigFromEnv, (env) => parseCniInstallConfig(env, 'node-1')], readDirectly: ['LOG_LEVEL'] },
  'kube-controllers': { parsers: [parseConfigFromEnv, parseControllersConfig], readDirectly: ['LOG_LEVEL'] },
};

/** Runs the parsers on `env` and records every name they look up: the names a command reads, from its own code. */
function namesRead(command: string, env: Env): Set<string> {
  const entry = parsersOf[command];
  if (entry === undefined) throw new Error(`no parsers known for tortie ${command}`);
  const read = new Set<string>(entry.readDirectly);
  const recording = new Proxy(env, {
    get(target, key, receiver) {
      if (typeof key === 'string') read.add(key);
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
  for (const parse of entry.parsers) parse(recording);
  return read;
}

const subcommandOf = (container: Container) => container.command.slice(1).join(' ');

describe('manifests/tortie.yaml', () => {
  it('is what `npm run generate` writes', () => {
    expect(committed === renderTortieYaml(readManifestParts()), 'manifests/tortie.yaml is out of date: run npm run generate').toBe(true);
  });

  it('parses, every document names apiVersion, kind and metadata.name, and namespaced objects are in kube-system', () => {
    expect(documents.flatMap((d) => d.errors.map((e) => e.message))).toEqual([]);
    const clusterScoped = new Set(['CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'PriorityClass', 'Namespace']);
    for (const o of objects) {
      expect(o.apiVersion, JSON.stringify(o.metadata)).toMatch(/^([a-z0-9.-]+\/)?v\d+(beta\d+|alpha\d+)?$/);
      expect(o.kind).toMatch(/^[A-Z][A-Za-z]+$/);
      expect(o.metadata.name).toMatch(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/);
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(clusterScoped.has(o.kind) ? undefined : NAMESPACE);
    }
    const names = objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    expect(names.length).toBe(new Set(names).size);
  });

  it('holds every CRD, the ConfigMap, the service accounts, the DaemonSet and the Deployment', () => {
    expect(byKind('CustomResourceDefinition')).toHaveLength([...readManifestParts().crdFiles.keys()].filter((f) => f !== 'kustomization.yaml').length);
    expect(byKind('ServiceAccount').map((o) => o.metadata.name)).toEqual(expect.arrayContaining(['tortie-kube-controllers', 'tortie-node']));
    expect(byKind('DaemonSet').map((o) => o.metadata.name)).toEqual(['tortie-node']);
    expect(byKind('Deployment').map((o) => o.metadata.name)).toEqual(['tortie-kube-controllers']);
    for (const [owner, spec] of podSpecs) {
      const sa = (spec as unknown as { serviceAccountName: string }).serviceAccountName;
      expect(byKind('ServiceAccount').some((o) => o.metadata.name === sa), `${owner.kind}/${owner.metadata.name} runs as ${sa}`).toBe(true);
    }
  });

  it("binds a role to each workload's service account, and every bound service account is in the file", () => {
    const accounts = new Set(byKind('ServiceAccount').map((o) => `${o.metadata.namespace}/${o.metadata.name}`));
    const bindings = [...byKind('ClusterRoleBinding'), ...byKind('RoleBinding')] as unknown as { metadata: { name: string }; subjects: { kind: string; name: string; namespace: string }[] }[];
    const bound = new Set<string>();
    for (const binding of bindings) {
      for (const subject of binding.subjects.filter((s) => s.kind === 'ServiceAccount')) {
        expect(accounts.has(`${subject.namespace}/${subject.name}`), `${binding.metadata.name} binds ${subject.namespace}/${subject.name}`).toBe(true);
        bound.add(`${subject.namespace}/${subject.name}`);
      }
    }
    if (readManifestParts().rbacFiles.size === 0) return; // Nothing to bind with until manifests/rbac-*.yaml exist.
    for (const [owner, spec] of podSpecs) {
      const sa = `${NAMESPACE}/${(spec as unknown as { serviceAccountName: string }).serviceAccountName}`;
      expect(bound.has(sa), `${owner.kind}/${owner.metadata.name} runs as ${sa}, which no binding names`).toBe(true);
    }
  });

  it('runs one image, tagged with the package version', () => {
    for (const [, c] of containers) expect(c.image).toBe(imageFor(version));
  });

  it.each(containers.map(([owner, c]) => [`${owner.metadata.name}/${c.name}`, c] as const))('%s runs a real tortie command', (_name, container) => {
    expect(container.command[0]).toBe('tortie');
    let command: Command = buildProgram(async () => undefined);
    for (const word of container.command.slice(1)) {
      const next = command.commands.find((c) => c.name() === word);
      expect(next, `tortie ${container.command.slice(1).join(' ')}: no command "${word}" under "${command.name()}"`).toBeDefined();
      command = next!;
    }
    expect(command.commands, 'a runnable command, not a group').toEqual([]);
  });

  it.each(containers.map(([owner, c]) => [`${owner.metadata.name}/${c.name}`, c] as const))('%s sets only variables its command reads, and they parse', (_name, container) => {
    const env = resolvedEnv(container);
    const read = namesRead(subcommandOf(container), env);
    const unread = (container.env ?? []).map((v) => v.name).filter((name) => !read.has(name));
    expect(unread, `tortie ${subcommandOf(container)} never reads these`).toEqual([]);
  });

  it('the read-names check bites: calico.yaml settings tortie ignores are not among the names read', () => {
    const node = containers.find(([, c]) => c.name === 'tortie-node')![1];
    const read = namesRead('node run', { ...resolvedEnv(node), CALICO_IPV6POOL_VXLAN: 'Never', FELIX_IPV6SUPPORT: 'false', WAIT_FOR_DATASTORE: 'true' });
    for (const ignored of ['CALICO_IPV6POOL_VXLAN', 'FELIX_IPV6SUPPORT', 'WAIT_FOR_DATASTORE', 'CLUSTER_TYPE']) expect(read.has(ignored), ignored).toBe(false);
    for (const used of ['NODENAME', 'CALICO_IPV4POOL_CIDR', 'FELIX_HEALTHPORT', 'TORTIE_BGP_HOLD_TIME', 'DATASTORE_TYPE']) expect(read.has(used), used).toBe(true);
  });

  it('the node agent gets the Calico settings a calico.yaml user expects', () => {
    const node = containers.find(([, c]) => c.name === 'tortie-node')![1];
    const config = parseNodeStartupConfig(resolvedEnv(node));
    expect(config).toMatchObject({ nodeNameSetting: 'node-1', backend: 'bird', ipv4: { kind: 'autodetect' } });
    expect(config.defaultIpv4Pool).toMatchObject({ cidr: '192.168.0.0/16', blockSize: 26, ipipMode: 'Always', vxlanMode: 'Never', natOutgoing: true });
    expect(parseConfigFromEnv(resolvedEnv(node)).datastoreType).toBe('kubernetes');
    // calico.yaml's commented-out CIDR, in place for a user to uncomment.
    expect(committed).toMatch(/# - name: CALICO_IPV4POOL_CIDR\n\s+#   value: "192.168.0.0\/16"\n(\s+#[^\n]*\n)*\s+- name: CALICO_IPV4POOL_IPIP/);
  });

  it("the ConfigMap's conflist, rendered as tortie cni install renders it, is accepted by the plugin", () => {
    const install = containers.find(([, c]) => c.name === 'install-cni')![1];
    const config = parseCniInstallConfig(resolvedEnv(install), 'node-1');
    const rendered = renderNetworkConfig(config.networkConfigTemplate, { nodeName: config.nodeName, mtu: config.mtu, kubeconfigPath: '/etc/cni/net.d/tortie-kubeconfig', datastoreType: config.datastoreType, etcdEndpoints: '' });
    if (!rendered.ok) throw new Error(rendered.problem);
    const conflist = JSON.parse(rendered.text) as { cniVersion: string; name: string; plugins: Obj[] };
    const tortie = conflist.plugins.find((p) => p.type === 'tortie')!;
    const request = parseCniRequest(
      { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/var/run/netns/c1', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' },
      JSON.stringify({ cniVersion: conflist.cniVersion, name: conflist.name, ...tortie }),
    );
    expect(request.config).toMatchObject({ nodename: 'node-1', mtu: 0, datastore_type: 'kubernetes', kubernetes: { kubeconfig: '/etc/cni/net.d/tortie-kubeconfig' } });
    expect(request.ipam?.type).toBe('tortie-ipam');
  });

  it('mounts the host directories the install writes at the same paths, and every mount names a volume', () => {
    const install = containers.find(([, c]) => c.name === 'install-cni')![1];
    const config = parseCniInstallConfig(resolvedEnv(install), 'node-1');
    const mounts = (install.volumeMounts ?? []).map((m) => m.mountPath);
    expect(mounts).toEqual(expect.arrayContaining([config.binDir, config.netDir]));
    for (const [, spec] of podSpecs) {
      const volumes = new Set((spec.volumes ?? []).map((v) => v.name));
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) for (const m of c.volumeMounts ?? []) expect(volumes.has(m.name), `${c.name} mounts ${m.name}`).toBe(true);
    }
    const paths = (spec: PodSpec) => (spec.volumes ?? []).map((v) => (v as { hostPath?: { path: string } }).hostPath?.path);
    expect(paths(podSpecs.find(([o]) => o.kind === 'DaemonSet')![1])).toEqual(expect.arrayContaining(['/opt/cni/bin', '/etc/cni/net.d', '/var/run/tortie', '/var/lib/tortie']));
  });

  it('probes the paths the health server serves, on the host and port it listens on', async () => {
    const node = containers.find(([, c]) => c.name === 'tortie-node')![1];
    const felix = parseFelixConfig(resolvedEnv(node), 'node-1');
    const probes = [node.livenessProbe!.httpGet, node.readinessProbe!.httpGet];
    for (const probe of probes) {
      expect(probe.port).toBe(felix.healthPort);
      expect(probe.host).toBe(felix.healthHost);
    }
    // Serve on a free port of the same host and ask for each probe's path.
    const server = startHealthServer({ live: true, ready: true }, { healthPort: 0, healthHost: felix.healthHost });
    try {
      await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', () => resolve())));
      const { port } = server.address() as AddressInfo;
      for (const probe of probes) expect((await fetch(`http://${probe.host}:${port}${probe.path}`)).status, probe.path).toBe(200);
      expect((await fetch(`http://${felix.healthHost}:${port}/healthz`)).status, 'the server does refuse other paths').toBe(404);
    } finally {
      server.close();
    }
  });
});

describe('renderTortieYaml', () => {
  it('includes manifests/rbac-*.yaml in name order once they exist, and says they are missing until then', () => {
    const parts = readManifestParts();
    const without = renderTortieYaml({ ...parts, rbacFiles: new Map() });
    expect(without).toContain('# RBAC: manifests/rbac-*.yaml');
    const rbac = 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: tortie-node\nrules: []\n';
    const withRbac = renderTortieYaml({ ...parts, rbacFiles: new Map([['rbac-z.yaml', rbac.replace('tortie-node', 'z')], ['rbac-node.yaml', rbac]]) });
    expect(withRbac).not.toContain('# RBAC: manifests/rbac-*.yaml');
    expect(withRbac.indexOf('# Source: manifests/rbac-node.yaml')).toBeLessThan(withRbac.indexOf('# Source: manifests/rbac-z.yaml'));
    expect(parseAllDocuments(withRbac).filter((d) => (d.toJS() as K8sObject | null)?.kind === 'ClusterRole')).toHaveLength(2);
  });

  it('writes the workloads\' service accounts only when no RBAC file does', () => {
    const parts = readManifestParts();
    const accounts = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as K8sObject | null).filter((o) => o?.kind === 'ServiceAccount').map((o) => o!.metadata.name).sort();
    expect(accounts(renderTortieYaml({ ...parts, rbacFiles: new Map() }))).toEqual(['tortie-kube-controllers', 'tortie-node']);
    const nodeAccount = 'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: tortie-node\n  namespace: kube-system\n';
    expect(accounts(renderTortieYaml({ ...parts, rbacFiles: new Map([['rbac-node.yaml', nodeAccount]]) }))).toEqual(['tortie-kube-controllers', 'tortie-node']);
  });
});
