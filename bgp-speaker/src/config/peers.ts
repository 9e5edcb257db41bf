/**
 * Which BGP sessions this node has, from the datastore's view (pure): Calico's
 * semantics, as its confd templates render them for BIRD.
 *
 * - Node-to-node mesh (BGPConfiguration `nodeToNodeMeshEnabled`, default
 *   true): every other Node with a BGP address of the family, type
 *   `node-to-node mesh`.
 * - BGPPeer with neither `node` nor `nodeSelector`: every node has it
 *   (`global`); with `node: <name>` or a `nodeSelector` matching this node's
 *   labels: `node specific`.
 * - BGPPeer `peerSelector`: peer with every node it selects, at that node's
 *   address and AS. A node with `routeReflectorClusterID` is a route
 *   reflector; a selected node that is not a reflector of the same cluster is
 *   its client (as Calico's template marks `rr client`).
 * - Local AS: Node.spec.bgp.asNumber, else BGPConfiguration.asNumber, else
 *   64512. Router ID: the node's IPv4 address.
 * - An explicit BGPPeer wins over a mesh session to the same address; among
 *   BGPPeers, the first by name. Our own addresses are never peers.
 * - Passwords: `secretKeyRef` read from the given Secrets (TCP-MD5 is not
 *   applied yet: the session reports it as a problem, see PeerSpec.password).
 */
import { formatCidr, parseCidr, parseIp } from '../../../lib/cidr.js';
import { matchSelector } from '../../../lib/selector/match.js';
import { parseSelector } from '../../../lib/selector/parse.js';
import type { BGPConfiguration, BGPPeer, Node } from '../../../crds/src/index.js';
import { parseDurationMs, parseIpWithPort } from '../../../crds/src/index.js';

export const DEFAULT_LOCAL_AS = 64512;
export const DEFAULT_BGP_PORT = 179;
export const DEFAULT_MAX_RESTART_TIME_SEC = 120;

export type PeerType = 'node-to-node mesh' | 'global' | 'node specific';

export interface PeerSpec {
  /** Session key: the peer's address, with `:port` when not 179. */
  readonly key: string;
  readonly peerAddress: string;
  readonly peerPort: number;
  readonly peerAsn: number;
  readonly localAsn: number;
  readonly type: PeerType;
  /** The BGPPeer's name, or `Mesh_<node>` for a mesh session. */
  readonly name: string;
  /** The tortie node at the other end, when it is one (mesh and peerSelector sessions). */
  readonly peerNode: string | null;
  /** RFC 4456: we reflect routes for this peer (we are a reflector, it is not one of our cluster). */
  readonly isRouteReflectorClient: boolean;
  readonly keepOriginalNextHop: boolean;
  /** Source address of our connections (the node's address of the peer's family); undefined lets the kernel choose. */
  readonly sourceAddress: string | undefined;
  /** The password, when one is configured and found (TCP-MD5; not applied yet). */
  readonly password: string | null;
  /** Graceful restart time we announce for this session. */
  readonly maxRestartTimeSec: number;
}

export interface PeerProblem {
  readonly source: string;
  readonly message: string;
}

export interface PeerPlan {
  readonly localAsn: number;
  /** BGP identifier: the node's IPv4 address (null: the node has none, no session can start). */
  readonly routerId: string | null;
  /** RFC 4456 CLUSTER_ID when this node is a route reflector. */
  readonly clusterId: string | null;
  readonly nodeAddress: { readonly ipv4?: string | undefined; readonly ipv6?: string | undefined };
  /** The subnets of the node's BGP addresses (for CrossSubnet and next-hop resolution). */
  readonly localSubnets: readonly string[];
  readonly peers: readonly PeerSpec[];
  /** BGPPeers that could not be used, and why (for the log). */
  readonly problems: readonly PeerProblem[];
}

/** Secret name → decoded data (key → value). */
export type SecretData = ReadonlyMap<string, Readonly<Record<string, string>>>;

export interface PeerInputs {
  readonly localNode: string;
  readonly nodes: readonly Node[];
  /** The BGPConfiguration named "default", if any. */
  readonly bgpConfiguration?: BGPConfiguration | null | undefined;
  readonly bgpPeers: readonly BGPPeer[];
  readonly secrets?: SecretData | undefined;
}

/** `192.0.2.10/24` → `192.0.2.10`. */
export function addressOf(interfaceAddress: string | undefined): string | undefined {
  if (interfaceAddress === undefined) return undefined;
  const slash = interfaceAddress.indexOf('/');
  return slash < 0 ? interfaceAddress : interfaceAddress.slice(0, slash);
}

function subnetOf(interfaceAddress: string | undefined): string | null {
  if (interfaceAddress === undefined) return null;
  const c = parseCidr(interfaceAddress);
  return c === null ? null : formatCidr(c);
}

export function nodeAddresses(node: Node): { ipv4?: string; ipv6?: string } {
  const out: { ipv4?: string; ipv6?: string } = {};
  const v4 = addressOf(node.spec.bgp?.ipv4Address);
  const v6 = addressOf(node.spec.bgp?.ipv6Address);
  if (v4 !== undefined) out.ipv4 = v4;
  if (v6 !== undefined) out.ipv6 = v6;
  return out;
}

export function localAsnOf(node: Node | undefined, config: BGPConfiguration | null | undefined): number {
  return node?.spec.bgp?.asNumber ?? config?.spec.asNumber ?? DEFAULT_LOCAL_AS;
}

function durationSec(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const ms = parseDurationMs(text);
  return ms === null ? fallback : Math.min(4095, Math.round(ms / 1000));
}

function readSecret(
  ref: { secretKeyRef: { name: string; key: string; optional?: boolean | undefined } } | undefined,
  secrets: SecretData | undefined,
): { password: string | null; problem: string | null } {
  if (ref === undefined) return { password: null, problem: null };
  const { name, key, optional } = ref.secretKeyRef;
  const value = secrets?.get(name)?.[key];
  if (value !== undefined) return { password: value, problem: null };
  if (optional === true) return { password: null, problem: null };
  return { password: null, problem: `password: Secret ${name} has no key ${key}; the session is not started until it does` };
}

function familyOf(address: string): 4 | 6 | null {
  return parseIp(address)?.family ?? null;
}

function sessionKey(address: string, port: number): string {
  return port === DEFAULT_BGP_PORT ? address : address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export function calculatePeers(inputs: PeerInputs): PeerPlan {
  const nodesByName = new Map(inputs.nodes.map((n) => [n.metadata.name, n]));
  const me = nodesByName.get(inputs.localNode);
  const config = inputs.bgpConfiguration ?? null;
  const localAsn = localAsnOf(me, config);
  const nodeAddress = me === undefined ? {} : nodeAddresses(me);
  const localSubnets = [subnetOf(me?.spec.bgp?.ipv4Address), subnetOf(me?.spec.bgp?.ipv6Address)].filter((s): s is string => s !== null);
  const clusterId = me?.spec.bgp?.routeReflectorClusterID ?? null;
  const own = new Set([nodeAddress.ipv4, nodeAddress.ipv6].filter((a): a is string => a !== undefined));
  const myLabels = me?.metadata.labels ?? {};
  const problems: PeerProblem[] = [];
  const byKey = new Map<string, PeerSpec>();

  const sourceFor = (address: string): string | undefined => (familyOf(address) === 6 ? nodeAddress.ipv6 : nodeAddress.ipv4);
  const add = (spec: PeerSpec, isExplicit: boolean): void => {
    if (own.has(spec.peerAddress)) return;
    const existing = byKey.get(spec.key);
    if (existing !== undefined && (existing.type !== 'node-to-node mesh' || !isExplicit)) return;
    byKey.set(spec.key, spec);
  };

  const isReflectorClient = (peer: Node): boolean => clusterId !== null && peer.spec.bgp?.routeReflectorClusterID !== clusterId;

  // Explicit BGPPeers first (they win over the mesh), in name order.
  const peers = [...inputs.bgpPeers].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  for (const bp of peers) {
    const spec = bp.spec;
    const source = `BGPPeer ${bp.metadata.name}`;
    let type: PeerType = 'global';
    if (spec.node !== undefined) {
      if (spec.node !== inputs.localNode) continue;
      type = 'node specific';
    } else if (spec.nodeSelector !== undefined) {
      const sel = parseSelector(spec.nodeSelector);
      if (!sel.ok) {
        problems.push({ source, message: `nodeSelector: ${sel.error.message}` });
        continue;
      }
      if (!matchSelector(sel.selector, myLabels)) continue;
      type = 'node specific';
    }
    const { password, problem } = readSecret(spec.password, inputs.secrets);
    if (problem !== null) {
      problems.push({ source, message: problem });
      continue;
    }
    const maxRestartTimeSec = durationSec(spec.maxRestartTime, DEFAULT_MAX_RESTART_TIME_SEC);
    if (spec.peerSelector !== undefined) {
      const sel = parseSelector(spec.peerSelector);
      if (!sel.ok) {
        problems.push({ source, message: `peerSelector: ${sel.error.message}` });
        continue;
      }
      for (const peerNode of [...inputs.nodes].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
        if (peerNode.metadata.name === inputs.localNode) continue;
        if (!matchSelector(sel.selector, peerNode.metadata.labels ?? {})) continue;
        const addresses = nodeAddresses(peerNode);
        for (const address of [addresses.ipv4, addresses.ipv6]) {
          if (address === undefined || sourceFor(address) === undefined) continue;
          add(
            {
              key: sessionKey(address, DEFAULT_BGP_PORT),
              peerAddress: address,
              peerPort: DEFAULT_BGP_PORT,
              peerAsn: localAsnOf(peerNode, config),
              localAsn,
              type,
              name: bp.metadata.name,
              peerNode: peerNode.metadata.name,
              isRouteReflectorClient: isReflectorClient(peerNode),
              keepOriginalNextHop: spec.keepOriginalNextHop,
              sourceAddress: spec.sourceAddress === 'None' ? undefined : sourceFor(address),
              password,
              maxRestartTimeSec,
            },
            true,
          );
        }
      }
      continue;
    }
    const target = spec.peerIP === undefined ? null : parseIpWithPort(spec.peerIP);
    if (target === null || spec.asNumber === undefined) {
      problems.push({ source, message: 'needs peerIP and asNumber, or peerSelector' });
      continue;
    }
    const port = target.port ?? DEFAULT_BGP_PORT;
    const peerNode = inputs.nodes.find((n) => {
      const a = nodeAddresses(n);
      return a.ipv4 === target.ip || a.ipv6 === target.ip;
    });
    add(
      {
        key: sessionKey(target.ip, port),
        peerAddress: target.ip,
        peerPort: port,
        peerAsn: spec.asNumber,
        localAsn,
        type,
        name: bp.metadata.name,
        peerNode: peerNode?.metadata.name ?? null,
        isRouteReflectorClient: peerNode !== undefined && isReflectorClient(peerNode),
        keepOriginalNextHop: spec.keepOriginalNextHop,
        sourceAddress: spec.sourceAddress === 'None' ? undefined : sourceFor(target.ip),
        password,
        maxRestartTimeSec,
      },
      true,
    );
  }

  if (config?.spec.nodeToNodeMeshEnabled ?? true) {
    const { password, problem } = readSecret(config?.spec.nodeMeshPassword, inputs.secrets);
    if (problem !== null) problems.push({ source: 'BGPConfiguration default', message: `nodeMeshPassword: ${problem}` });
    else {
      const maxRestartTimeSec = durationSec(config?.spec.nodeMeshMaxRestartTime, DEFAULT_MAX_RESTART_TIME_SEC);
      for (const peerNode of [...inputs.nodes].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
        if (peerNode.metadata.name === inputs.localNode) continue;
        const addresses = nodeAddresses(peerNode);
        for (const address of [addresses.ipv4, addresses.ipv6]) {
          if (address === undefined || sourceFor(address) === undefined) continue;
          add(
            {
              key: sessionKey(address, DEFAULT_BGP_PORT),
              peerAddress: address,
              peerPort: DEFAULT_BGP_PORT,
              peerAsn: localAsnOf(peerNode, config),
              localAsn,
              type: 'node-to-node mesh',
              name: `Mesh_${peerNode.metadata.name}`,
              peerNode: peerNode.metadata.name,
              isRouteReflectorClient: false,
              keepOriginalNextHop: false,
              sourceAddress: sourceFor(address),
              password,
              maxRestartTimeSec,
            },
            false,
          );
        }
      }
    }
  }

  return {
    localAsn,
    routerId: nodeAddress.ipv4 ?? null,
    clusterId,
    nodeAddress,
    localSubnets,
    peers: [...byKey.values()].sort((a, b) => a.key.localeCompare(b.key)),
    problems,
  };
}

/** True when two specs would run the same session (a difference means restart that session). */
export function isSameSession(a: PeerSpec, b: PeerSpec): boolean {
  return (
    a.peerAddress === b.peerAddress &&
    a.peerPort === b.peerPort &&
    a.peerAsn === b.peerAsn &&
    a.localAsn === b.localAsn &&
    a.sourceAddress === b.sourceAddress &&
    a.password === b.password &&
    a.maxRestartTimeSec === b.maxRestartTimeSec &&
    a.isRouteReflectorClient === b.isRouteReflectorClient
  );
}
