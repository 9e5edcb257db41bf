/**
 * The lab's layout, pure: names, addresses, AS numbers, the datastore objects,
 * BIRD's configuration, the pods, the demo policy and the connectivity matrix.
 * Nothing here touches the kernel, a file or a process (lab.ts does).
 *
 * Topology ("a rack"): one ToR namespace `tortie-tor` running BIRD 2 in
 * AS 65000; nodes `tortie-node1..N`, each wired to the ToR by one veth
 * (`tn<i>` on the ToR, `eth0` on the node) with 172.30.<i>.1/24 (ToR) and
 * 172.30.<i>.2/24 (node). Each node has its own AS (64512 + i, Calico's
 * "AS per compute server" eBGP model: with one shared AS the ToR's routes
 * would carry the receiving node's own AS and be dropped as a loop) and one
 * node-specific BGPPeer to its ToR address (each node sees the ToR on a
 * different link address, so one global BGPPeer cannot name it). The mesh is
 * off: the ToR carries every route, as in a real rack.
 */
import { TORTIE_API_VERSION } from '../../../lib/contract.js';
import type { StoredObject } from '../../../lib/datastore/types.js';

export const LAB_RUN_DIR = '/var/run/tortie/lab';
export const LAB_DATA_DIR = '/var/lib/tortie/lab';
export const LAB_LOG_DIR = '/var/log/tortie/lab';
/** The lab's own etcd (not `tortie etcd start`'s): its own port, data and pid file, removed by `lab down`. */
export const LAB_ETCD_ENDPOINT = 'http://127.0.0.1:23790';
/** Inside every node namespace, the etcd bridge listens here (socat → Unix socket → the lab etcd). */
export const NODE_ETCD_ENDPOINT = 'http://127.0.0.1:2379';
export const TOR_NETNS = 'tortie-tor';
export const TOR_ASN = 65000;
export const CLUSTER_ASN = 64512;
export const POOL_CIDR = '10.244.0.0/16';
export const POD_NAMESPACE = 'prod';
export const POD_PORT = 80;
export const NETWORK_NAME = 'k8s-pod-network';
export const POLICY_NAME = 'backend-from-frontend';

export interface LabNode {
  readonly index: number;
  readonly name: string;
  readonly netns: string;
  readonly address: string;
  readonly torAddress: string;
  readonly torIfName: string;
  readonly asNumber: number;
}

export interface LabPod {
  readonly name: string;
  readonly node: string;
  readonly netns: string;
  readonly containerId: string;
  readonly labels: Readonly<Record<string, string>>;
}

export function labNodes(count: number): LabNode[] {
  return Array.from({ length: count }, (_, k) => {
    const i = k + 1;
    return {
      index: i,
      name: `node${i}`,
      netns: `tortie-node${i}`,
      address: `172.30.${i}.2`,
      torAddress: `172.30.${i}.1`,
      torIfName: `tn${i}`,
      asNumber: CLUSTER_ASN + i,
    };
  });
}

/** Two pods per node, in namespace prod: frontend-<i> (role=frontend) and backend-<i> (role=backend). */
export function labPods(nodes: readonly LabNode[]): LabPod[] {
  return nodes.flatMap((n) =>
    (['frontend', 'backend'] as const).map((role) => {
      const name = `${role}-${n.index}`;
      return { name, node: n.name, netns: `${n.netns}-${name}`, containerId: `lab-${name}`, labels: { app: 'shop', role } };
    }),
  );
}

const obj = (kind: string, name: string, spec: Record<string, unknown>, extra: Record<string, unknown> = {}): StoredObject => ({
  apiVersion: TORTIE_API_VERSION,
  kind,
  metadata: { name, ...extra },
  spec,
});

/** What `lab up` writes before any process starts. */
export function labResources(nodes: readonly LabNode[]): { key: 'IPPool' | 'BGPConfiguration' | 'Node' | 'BGPPeer' | 'K8sNamespace'; object: StoredObject }[] {
  return [
    { key: 'IPPool', object: obj('IPPool', 'default-ipv4-ippool', { cidr: POOL_CIDR, blockSize: 26, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false, nodeSelector: 'all()', disabled: false }) },
    { key: 'BGPConfiguration', object: obj('BGPConfiguration', 'default', { asNumber: CLUSTER_ASN, nodeToNodeMeshEnabled: false }) },
    { key: 'K8sNamespace', object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: POD_NAMESPACE, labels: { 'kubernetes.io/metadata.name': POD_NAMESPACE } } } },
    ...nodes.map((n) => ({
      key: 'Node' as const,
      object: obj('Node', n.name, { bgp: { ipv4Address: `${n.address}/24`, asNumber: n.asNumber } }, { labels: { 'kubernetes.io/hostname': n.name, rack: 'lab' } }),
    })),
    ...nodes.map((n) => ({ key: 'BGPPeer' as const, object: obj('BGPPeer', `${n.name}-tor`, { node: n.name, peerIP: n.torAddress, asNumber: TOR_ASN }) })),
  ];
}

/** BIRD 2 on the ToR: one eBGP session per node, everything learned goes to the ToR's kernel and to every other node. */
export function birdConfig(nodes: readonly LabNode[]): string {
  return [
    `router id 172.30.255.1;`,
    `log stderr all;`,
    `protocol device { scan time 2; }`,
    `protocol kernel { ipv4 { import none; export all; }; scan time 2; }`,
    ...nodes.map(
      (n) => `protocol bgp ${n.name} {
  local ${n.torAddress} as ${TOR_ASN};
  neighbor ${n.address} as ${n.asNumber};
  hold time 30;
  connect delay time 1;
  connect retry time 2;
  error wait time 1, 4;
  ipv4 { import all; export all; };
}`,
    ),
    '',
  ].join('\n');
}

/** The CNI network configuration each node's plugin reads (etcd mode, as Calico's etcd conflist). */
export function cniConfig(node: LabNode): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: NETWORK_NAME,
    type: 'tortie',
    datastore_type: 'etcdv3',
    etcd_endpoints: NODE_ETCD_ENDPOINT,
    nodename: node.name,
    mtu: 1500,
    log_level: 'warn',
    ipam: { type: 'tortie-ipam' },
  };
}

/** The demo policy: in prod, backends accept TCP 80 only from frontends. */
export function demoPolicy(): StoredObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: POLICY_NAME, namespace: POD_NAMESPACE },
    spec: {
      podSelector: { matchLabels: { role: 'backend' } },
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: { matchLabels: { role: 'frontend' } } }], ports: [{ protocol: 'TCP', port: POD_PORT }] }],
    },
  };
}

/** What the demo policy should allow: everything except a non-frontend into a backend. */
export function expectedAfterPolicy(from: Pick<LabPod, 'labels'>, to: Pick<LabPod, 'labels'>): boolean {
  return to.labels['role'] !== 'backend' || from.labels['role'] === 'frontend';
}

export type Matrix = ReadonlyMap<string, boolean>;
export const cell = (from: string, to: string) => `${from}->${to}`;

/** Every ordered pair of distinct pods. */
export function pairs<T extends { name: string }>(pods: readonly T[]): [T, T][] {
  return pods.flatMap((a) => pods.filter((b) => b !== a).map((b): [T, T] => [a, b]));
}

/** The matrix as a table: rows are sources, columns destinations; `ok`, `--` (refused/timed out), `.` (itself). */
export function renderMatrix(names: readonly string[], m: Matrix): string {
  const width = Math.max(...names.map((n) => n.length), 'from \\ to'.length);
  const pad = (s: string) => s.padEnd(width);
  const lines = [[pad('from \\ to'), ...names.map(pad)].join('  ')];
  for (const a of names) lines.push([pad(a), ...names.map((b) => pad(a === b ? '.' : m.get(cell(a, b)) ? 'ok' : '--'))].join('  '));
  return `${lines.map((l) => l.trimEnd()).join('\n')}\n`;
}

/** The cells whose verdict differs, as `a -> b: allowed -> denied`. */
export function diffMatrix(before: Matrix, after: Matrix): string[] {
  const out: string[] = [];
  for (const [k, v] of after) {
    const was = before.get(k);
    if (was !== undefined && was !== v) out.push(`${k.replace('->', ' -> ')}: ${was ? 'allowed' : 'denied'} -> ${v ? 'allowed' : 'denied'}`);
  }
  return out.sort();
}

/** Whether an IPv4 address lies in a CIDR. */
export function cidrContains(cidr: string, address: string): boolean {
  const [net, len] = cidr.split('/') as [string, string | undefined];
  const toInt = (a: string) => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const bits = len === undefined ? 32 : Number(len);
  const mask = bits === 0 ? 0 : 2 ** 32 - 2 ** (32 - bits);
  const and = (x: number) => Number((BigInt(x) & BigInt(mask)).toString());
  return and(toInt(net)) === and(toInt(address));
}
