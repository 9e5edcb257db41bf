/**
 * manifests/tortie.yaml, the one file `kubectl apply -f` installs tortie
 * with (DESIGN.md "What a user does" §1), built from its parts (pure: text in,
 * text out; generate.ts reads and writes the files): the CRDs generated from
 * crds/src, the RBAC files manifests/rbac-*.yaml, and the objects below,
 * shaped like calico.yaml's so a calico.yaml user changes image names, not
 * settings. Every environment variable set here is one the command it is
 * given to reads (tortie-yaml.test.ts derives the names from the parsers).
 */
import { Document, isMap, isSeq, parseAllDocuments, stringify, type Node as YamlNode } from 'yaml';
import { defaultNetworkConfigTemplate } from '../../cni/src/install/config.js';

export const NAMESPACE = 'kube-system';
export const CONFIG_MAP_NAME = 'tortie-config';
export const NODE_SERVICE_ACCOUNT = 'tortie-node';
export const CONTROLLERS_SERVICE_ACCOUNT = 'tortie-kube-controllers';
export const HEALTH_PORT = 9099;

export const imageFor = (version: string): string => `tortie/tortie:${version}`;

export interface ManifestParts {
  /** package.json's version: the image tag. */
  readonly version: string;
  /** manifests/crds/*.yaml by file name, as crds/src renders them. */
  readonly crdFiles: ReadonlyMap<string, string>;
  /** manifests/rbac-*.yaml by file name; empty until they exist. */
  readonly rbacFiles: ReadonlyMap<string, string>;
}

type Obj = Record<string, unknown>;
type EnvVar = { name: string; value: string } | { name: string; valueFrom: Obj };

const fromConfigMap = (name: string, key: string): EnvVar => ({ name, valueFrom: { configMapKeyRef: { name: CONFIG_MAP_NAME, key } } });
const nodeName = (name: string): EnvVar => ({ name, valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
const hostPath = (name: string, path: string, type?: string): Obj => ({ name, hostPath: { path, ...(type === undefined ? {} : { type }) } });

function configMap(): Obj {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: CONFIG_MAP_NAME, namespace: NAMESPACE },
    data: {
      // No Typha: every node agent watches the API server itself.
      tortie_backend: 'bird',
      // 0: the host uplink MTU minus the encapsulation overhead (IPIP 20, VXLAN 50).
      veth_mtu: '0',
      cni_network_config: defaultNetworkConfigTemplate('kubernetes'),
    },
  };
}

function serviceAccount(name: string): Obj {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: NAMESPACE } };
}

function nodeDaemonSet(image: string): Obj {
  const labels = { 'k8s-app': 'tortie-node' };
  const installCni = {
    name: 'install-cni',
    image,
    command: ['tortie', 'cni', 'install'],
    env: [
      { name: 'CNI_CONF_NAME', value: '10-tortie.conflist' },
      fromConfigMap('CNI_NETWORK_CONFIG', 'cni_network_config'),
      nodeName('KUBERNETES_NODE_NAME'),
      fromConfigMap('CNI_MTU', 'veth_mtu'),
    ] satisfies EnvVar[],
    securityContext: { privileged: true },
    volumeMounts: [
      { name: 'cni-bin-dir', mountPath: '/opt/cni/bin' },
      { name: 'cni-net-dir', mountPath: '/etc/cni/net.d' },
    ],
  };
  const probe = (path: string, extra: Obj): Obj => ({ httpGet: { path, port: HEALTH_PORT, host: '127.0.0.1' }, periodSeconds: 10, timeoutSeconds: 10, ...extra });
  const node = {
    name: 'tortie-node',
    image,
    command: ['tortie', 'node', 'run'],
    env: [
      { name: 'DATASTORE_TYPE', value: 'kubernetes' },
      nodeName('NODENAME'),
      fromConfigMap('CALICO_NETWORKING_BACKEND', 'tortie_backend'),
      { name: 'IP', value: 'autodetect' },
      { name: 'IP_AUTODETECTION_METHOD', value: 'first-found' },
      { name: 'CALICO_IPV4POOL_IPIP', value: 'Always' },
      { name: 'CALICO_IPV4POOL_VXLAN', value: 'Never' },
      { name: 'CALICO_IPV4POOL_NAT_OUTGOING', value: 'true' },
      { name: 'FELIX_HEALTHPORT', value: String(HEALTH_PORT) },
      // The kubelet probes from the host's namespace; the health server need not be reachable from elsewhere.
      { name: 'FELIX_HEALTHHOST', value: '127.0.0.1' },
    ] satisfies EnvVar[],
    securityContext: { privileged: true },
    resources: { requests: { cpu: '250m', memory: '128Mi' } },
    livenessProbe: probe('/liveness', { initialDelaySeconds: 10, failureThreshold: 6 }),
    readinessProbe: probe('/readiness', {}),
    volumeMounts: [
      { name: 'lib-modules', mountPath: '/lib/modules', readOnly: true },
      { name: 'var-run-tortie', mountPath: '/var/run/tortie' },
      { name: 'var-lib-tortie', mountPath: '/var/lib/tortie' },
      { name: 'cni-net-dir', mountPath: '/etc/cni/net.d' },
    ],
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'tortie-node', namespace: NAMESPACE, labels },
    spec: {
      selector: { matchLabels: labels },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels },
        spec: {
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          hostNetwork: true,
          tolerations: [
            // Run on every node, whatever its taints: without us no pod there gets a network.
            { effect: 'NoSchedule', operator: 'Exists' },
            { key: 'CriticalAddonsOnly', operator: 'Exists' },
            { effect: 'NoExecute', operator: 'Exists' },
          ],
          serviceAccountName: NODE_SERVICE_ACCOUNT,
          // SIGTERM leaves routes and rules in place; 10 s is enough to close BGP sessions cleanly.
          terminationGracePeriodSeconds: 10,
          priorityClassName: 'system-node-critical',
          initContainers: [installCni],
          containers: [node],
          volumes: [
            hostPath('lib-modules', '/lib/modules'),
            hostPath('var-run-tortie', '/var/run/tortie', 'DirectoryOrCreate'),
            hostPath('var-lib-tortie', '/var/lib/tortie', 'DirectoryOrCreate'),
            // Mounted at the same paths in the containers: the files written there name host paths.
            hostPath('cni-bin-dir', '/opt/cni/bin', 'DirectoryOrCreate'),
            hostPath('cni-net-dir', '/etc/cni/net.d', 'DirectoryOrCreate'),
          ],
        },
      },
    },
  };
}

function controllersDeployment(image: string): Obj {
  const labels = { 'k8s-app': 'tortie-kube-controllers' };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'tortie-kube-controllers', namespace: NAMESPACE, labels },
    spec: {
      // One writer: the controllers assume no second instance releases the same leak.
      replicas: 1,
      strategy: { type: 'Recreate' },
      selector: { matchLabels: labels },
      template: {
        metadata: { name: 'tortie-kube-controllers', namespace: NAMESPACE, labels },
        spec: {
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          tolerations: [
            { key: 'CriticalAddonsOnly', operator: 'Exists' },
            { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' },
          ],
          serviceAccountName: CONTROLLERS_SERVICE_ACCOUNT,
          priorityClassName: 'system-cluster-critical',
          containers: [
            {
              name: 'tortie-kube-controllers',
              image,
              command: ['tortie', 'kube-controllers'],
              env: [
                { name: 'DATASTORE_TYPE', value: 'kubernetes' },
                { name: 'ENABLED_CONTROLLERS', value: 'node,ipam' },
              ] satisfies EnvVar[],
              resources: { requests: { cpu: '50m', memory: '64Mi' } },
            },
          ],
        },
      },
    },
  };
}

/** calico.yaml's commented-out pool CIDR, before the encapsulation settings. */
const POOL_CIDR_COMMENT = [
  ' The default IPv4 pool to create on startup if none exists. Pod IPs are',
  ' chosen from this range. Changing it after installation has no effect on',
  ' an existing pool. Unset, it is 192.168.0.0/16.',
  ' - name: CALICO_IPV4POOL_CIDR',
  '   value: "192.168.0.0/16"',
  ' Block size of that pool (default 26):',
  ' - name: CALICO_IPV4POOL_BLOCK_SIZE',
  '   value: "26"',
].join('\n');

function withPoolComment(doc: Document): void {
  const containers = doc.getIn(['spec', 'template', 'spec', 'containers']);
  if (!isSeq(containers)) return;
  for (const container of containers.items) {
    const env = isMap(container) ? container.get('env', true) : null;
    if (!isSeq(env)) continue;
    const ipip = env.items.find((item): item is YamlNode => isMap(item) && item.get('name') === 'CALICO_IPV4POOL_IPIP');
    if (ipip !== undefined) ipip.commentBefore = POOL_CIDR_COMMENT;
  }
}

const HEADER = `# tortie: Calico-style pod networking for Kubernetes.
# Install: kubectl apply -f tortie.yaml (see manifests/README.md; the image must be built and pushed first).
# Generated by \`npm run generate\` from manifests/src/tortie-yaml.ts, manifests/crds/ and manifests/rbac-*.yaml. Do not edit.
`;

function section(title: string, text: string): string {
  return `---\n# Source: ${title}\n${text.trimEnd()}\n`;
}

const yamlText = (value: unknown): string => stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });

/** The comment lines the CRD renderer puts on top of each file; the section header replaces them. */
const withoutLeadingComments = (text: string): string => text.replace(/^(#[^\n]*\n)+/, '');

export function renderTortieYaml(parts: ManifestParts): string {
  const image = imageFor(parts.version);
  const sections: string[] = [];
  for (const [file, text] of parts.crdFiles) {
    if (file.endsWith('.yaml') && file !== 'kustomization.yaml') sections.push(section(`manifests/crds/${file}`, withoutLeadingComments(text)));
  }
  const rbac = [...parts.rbacFiles].sort(([a], [b]) => a.localeCompare(b));
  // The RBAC files bring their service accounts; the workloads need theirs even before those exist.
  const accountsInRbac = new Set(
    rbac.flatMap(([, text]) => parseAllDocuments(text).map((d) => d.toJS() as { kind?: string; metadata?: { name?: string } } | null)).filter((o) => o?.kind === 'ServiceAccount').map((o) => o?.metadata?.name),
  );
  const missingAccounts = [NODE_SERVICE_ACCOUNT, CONTROLLERS_SERVICE_ACCOUNT].filter((name) => !accountsInRbac.has(name));
  if (missingAccounts.length > 0) {
    sections.push(section('manifests/src/tortie-yaml.ts: service accounts', missingAccounts.map((name) => yamlText(serviceAccount(name))).join('---\n')));
  }
  if (rbac.length === 0) {
    sections.push(`# RBAC: manifests/rbac-*.yaml (ClusterRoles and bindings for ${NODE_SERVICE_ACCOUNT} and ${CONTROLLERS_SERVICE_ACCOUNT}) are not written yet;\n# npm run generate includes them here once they exist.\n`);
  }
  // An RBAC file may hold several documents; each keeps its own separator.
  for (const [file, text] of rbac) sections.push(section(`manifests/${file}`, text.replace(/^---\n/, '')));
  sections.push(section('manifests/src/tortie-yaml.ts: settings', yamlText(configMap())));
  const daemonSet = new Document(nodeDaemonSet(image), { aliasDuplicateObjects: false });
  withPoolComment(daemonSet);
  sections.push(section('manifests/src/tortie-yaml.ts: the node agent on every node', daemonSet.toString({ lineWidth: 0 })));
  sections.push(section('manifests/src/tortie-yaml.ts: IPAM garbage collection and node cleanup', yamlText(controllersDeployment(image))));
  return HEADER + sections.join('');
}
