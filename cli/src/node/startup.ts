/**
 * The node agent's startup, as calico/node's: decide this host's name and
 * addresses, register them in its Node resource, create the default
 * IPPools when the cluster has none, and take the tunnel addresses the pools
 * ask for. `planNodeStartup` is pure (what to
 * write, given what is stored and what the kernel shows); `runNodeStartup`
 * reads, plans and writes, retrying on a conflicting write.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { dirname } from 'node:path';
import { parseResource } from '../../../crds/src/validate.js';
import { parseIp, type IpFamily } from '../../../lib/cidr.js';
import { TORTIE_API_VERSION } from '../../../lib/contract.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import type { Datastore, StoredObject } from '../../../lib/datastore/types.js';
import { hasErrorCode, TortieError } from '../../../lib/errors.js';
import { commandFailureOf, runCommand, type CommandRunner } from '../../../lib/kernel/exec.js';
import { createIpRunner } from '../../../lib/kernel/ip.js';
import { describeDetectionFailure, detectAddress, findAddress, type DetectedAddress, type HostInterfaces } from './autodetect.js';
import type { AddressSetting, AutodetectionMethod, DefaultPoolSettings, NodeStartupConfig } from './config.js';
import { ensureTunnelAddresses, type TunnelAddressOutcome } from './tunnel-addresses.js';

/** Where the chosen node name is kept, so a restart (and the CNI plugin) agree on it. */
export const NODENAME_FILE = '/var/lib/tortie/nodename';
export const DEFAULT_IPV4_POOL_NAME = 'default-ipv4-ippool';
export const DEFAULT_IPV6_POOL_NAME = 'default-ipv6-ippool';

interface NodeBgpSpec {
  asNumber?: number;
  ipv4Address?: string;
  ipv6Address?: string;
  [field: string]: unknown;
}
interface NodeObject extends StoredObject {
  spec?: { bgp?: NodeBgpSpec; addresses?: { address: string; type?: string }[]; [field: string]: unknown };
}

/** What the kernel shows, read once by the shell. */
export interface HostView extends HostInterfaces {
  /** The source address `ip route get` chooses towards a can-reach destination, per family; null when none. */
  readonly routeSource: { readonly 4: string | null; readonly 6: string | null };
}

export interface StartupPlan {
  /** The Node to write, or null when the stored one is already right. */
  readonly node: NodeObject | null;
  readonly ipv4: DetectedAddress | null;
  readonly ipv6: DetectedAddress | null;
  readonly poolsToCreate: readonly StoredObject[];
}

/**
 * Node name, in calico/node's order: NODENAME, the name a previous start
 * saved, HOSTNAME, the OS host name in lower case.
 */
export function chooseNodeName(config: Pick<NodeStartupConfig, 'nodeNameSetting' | 'hostnameSetting'>, savedName: string | null, osName: string): string {
  return config.nodeNameSetting ?? savedName ?? config.hostnameSetting ?? osName.toLowerCase();
}

const withLength = (a: DetectedAddress): string => `${a.address}/${a.prefixLength}`;

function splitAddress(text: string | undefined): { address: string; prefixLength: number } | null {
  if (text === undefined) return null;
  const [address = '', length] = text.split('/');
  return { address, prefixLength: length === undefined ? (address.includes(':') ? 128 : 32) : Number(length) };
}

function chooseAddress(setting: AddressSetting, method: AutodetectionMethod, family: IpFamily, stored: string | undefined, host: HostView): DetectedAddress | null {
  const variable = family === 4 ? 'IP' : 'IP6';
  switch (setting.kind) {
    case 'none':
      return null;
    case 'fixed': {
      const onHost = findAddress(host, setting.address);
      return { address: setting.address, prefixLength: setting.prefixLength ?? onHost?.prefixLength ?? (family === 4 ? 32 : 128), ifname: onHost?.ifname ?? '' };
    }
    case 'keep-or-detect': {
      const kept = splitAddress(stored);
      if (kept !== null) return { ...kept, ifname: findAddress(host, kept.address)?.ifname ?? '' };
      // calico/node autodetects IPv4 when nothing is stored, and leaves IPv6 alone.
      if (family === 6) return null;
      break;
    }
    case 'autodetect':
      break;
  }
  const detected = detectAddress(method, family, host, host.routeSource[family]);
  if (detected === null) throw new TortieError('ERR_CONFIG_INVALID', describeDetectionFailure(method, family, `${variable}_AUTODETECTION_METHOD`));
  return detected;
}

function defaultPool(name: string, settings: DefaultPoolSettings, family: IpFamily): StoredObject {
  const prefix = family === 4 ? 'CALICO_IPV4POOL_' : 'CALICO_IPV6POOL_';
  const pool = {
    apiVersion: TORTIE_API_VERSION,
    kind: 'IPPool',
    metadata: { name },
    spec: {
      cidr: settings.cidr,
      blockSize: settings.blockSize,
      ipipMode: settings.ipipMode,
      vxlanMode: settings.vxlanMode,
      natOutgoing: settings.natOutgoing,
      nodeSelector: settings.nodeSelector,
    },
  };
  const checked = parseResource('IPPool', pool);
  if (!checked.ok) {
    const variable = (path: string): string =>
      ({ 'spec.cidr': 'CIDR', 'spec.blockSize': 'BLOCK_SIZE', 'spec.ipipMode': 'IPIP', 'spec.vxlanMode': 'VXLAN', 'spec.nodeSelector': 'NODE_SELECTOR', 'spec.natOutgoing': 'NAT_OUTGOING' })[path] ?? path;
    throw new TortieError('ERR_CONFIG_INVALID', checked.issues.map((i) => `${prefix}${variable(i.path)}: ${i.message}`).join('; '));
  }
  return pool;
}

function poolFamily(pool: StoredObject): IpFamily | null {
  const cidr = (pool.spec as { cidr?: unknown } | undefined)?.cidr;
  return typeof cidr === 'string' ? (parseIp(cidr.split('/')[0] ?? '')?.family ?? null) : null;
}

/**
 * Pure: what startup writes. Throws ERR_CONFIG_INVALID when no address can be
 * found, or when another Node already uses ours (unless DISABLE_NODE_IP_CHECK).
 */
export function planNodeStartup(input: {
  readonly config: NodeStartupConfig;
  readonly nodeName: string;
  readonly stored: NodeObject | null;
  readonly otherNodes: readonly NodeObject[];
  readonly pools: readonly StoredObject[];
  readonly host: HostView;
}): StartupPlan {
  const { config, nodeName, stored, host } = input;
  const storedBgp = stored?.spec?.bgp ?? {};
  const ipv4 = chooseAddress(config.ipv4, config.ipv4Method, 4, storedBgp.ipv4Address, host);
  const ipv6 = chooseAddress(config.ipv6, config.ipv6Method, 6, storedBgp.ipv6Address, host);

  if (!config.isNodeIpCheckDisabled) {
    for (const other of input.otherNodes) {
      if (other.metadata.name === nodeName) continue;
      for (const [mine, theirs] of [[ipv4, other.spec?.bgp?.ipv4Address], [ipv6, other.spec?.bgp?.ipv6Address]] as const) {
        if (mine !== null && splitAddress(theirs)?.address === mine.address) {
          throw new TortieError(
            'ERR_CONFIG_INVALID',
            `node ${other.metadata.name} already uses ${mine.address}: each node needs its own address; set IP/IP6 (or the autodetection method) on this host, delete the stale Node ${other.metadata.name}, or set DISABLE_NODE_IP_CHECK=true`,
          );
        }
      }
    }
  }

  const { ipv4Address: _v4, ipv6Address: _v6, asNumber: storedAs, ...otherBgp } = storedBgp;
  const bgp: NodeBgpSpec = {
    ...otherBgp,
    ...(ipv4 === null ? {} : { ipv4Address: withLength(ipv4) }),
    ...(ipv6 === null ? {} : { ipv6Address: withLength(ipv6) }),
    ...(config.asNumber !== null ? { asNumber: config.asNumber } : storedAs === undefined ? {} : { asNumber: storedAs }),
  };
  const addresses = [ipv4, ipv6].filter((a) => a !== null).map((a) => ({ address: withLength(a), type: 'CalicoNodeIP' }));
  const otherAddresses = (stored?.spec?.addresses ?? []).filter((a) => a.type !== 'CalicoNodeIP');
  const spec: NonNullable<NodeObject['spec']> = { ...(stored?.spec ?? {}) };
  // Without an address there is nothing to peer with: calico/node leaves bgp out then.
  if (Object.keys(bgp).length === 0) delete spec.bgp;
  else spec.bgp = bgp;
  const allAddresses = [...otherAddresses, ...addresses];
  if (allAddresses.length === 0) delete spec.addresses;
  else spec.addresses = allAddresses;
  const desired: NodeObject = { ...(stored ?? { apiVersion: TORTIE_API_VERSION, kind: 'Node', metadata: { name: nodeName } }), spec };
  const isUnchanged = stored !== null && JSON.stringify(stored.spec ?? {}) === JSON.stringify(desired.spec ?? {});

  const families = new Set(input.pools.map(poolFamily));
  const poolsToCreate = [
    config.defaultIpv4Pool !== null && !families.has(4) ? defaultPool(DEFAULT_IPV4_POOL_NAME, config.defaultIpv4Pool, 4) : null,
    config.defaultIpv6Pool !== null && !families.has(6) ? defaultPool(DEFAULT_IPV6_POOL_NAME, config.defaultIpv6Pool, 6) : null,
  ].filter((p) => p !== null);
  return { node: isUnchanged ? null : desired, ipv4, ipv6, poolsToCreate };
}

export interface StartupOutcome {
  readonly nodeName: string;
  readonly ipv4: DetectedAddress | null;
  readonly ipv6: DetectedAddress | null;
  readonly isNodeWritten: boolean;
  readonly poolsCreated: readonly string[];
  /** The VXLAN and IPIP tunnel addresses the pools ask for (tunnel-addresses.ts). */
  readonly tunnels: readonly TunnelAddressOutcome[];
}

export interface StartupShell {
  readonly datastore: Datastore;
  readonly readHost: () => Promise<HostView>;
  readonly nodeNameFile?: string;
  readonly osHostname?: () => string;
}

async function readSavedName(file: string): Promise<string | null> {
  try {
    const text = (await readFile(file, 'utf8')).trim();
    return text === '' ? null : text;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Reads, plans and writes; a write that loses a race with another writer is planned again from what won. */
export async function runNodeStartup(config: NodeStartupConfig, shell: StartupShell): Promise<StartupOutcome> {
  const file = shell.nodeNameFile ?? NODENAME_FILE;
  const nodeName = chooseNodeName(config, await readSavedName(file), (shell.osHostname ?? osHostname)());
  const host = await shell.readHost();
  const { datastore } = shell;
  for (let attempt = 1; ; attempt++) {
    const [stored, nodes, pools] = await Promise.all([
      datastore.get<NodeObject>(Kinds.Node, nodeName),
      datastore.list<NodeObject>(Kinds.Node),
      datastore.list(Kinds.IPPool),
    ]);
    const plan = planNodeStartup({ config, nodeName, stored, otherNodes: nodes.items, pools: pools.items, host });
    try {
      if (plan.node !== null) {
        if (stored === null) await datastore.create(Kinds.Node, plan.node);
        else await datastore.update(Kinds.Node, plan.node);
      }
      const created: string[] = [];
      for (const pool of plan.poolsToCreate) {
        try {
          await datastore.create(Kinds.IPPool, pool);
          created.push(pool.metadata.name);
        } catch (err) {
          // Another node created the default pool first: that is the outcome we wanted.
          if (!hasErrorCode(err, 'ERR_DATASTORE_ALREADY_EXISTS')) throw err;
        }
      }
      const tunnels = await ensureTunnelAddresses(datastore, nodeName);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, `${nodeName}\n`);
      return { nodeName, ipv4: plan.ipv4, ipv6: plan.ipv6, isNodeWritten: plan.node !== null, poolsCreated: created, tunnels };
    } catch (err) {
      const isRace = hasErrorCode(err, 'ERR_DATASTORE_CONFLICT') || hasErrorCode(err, 'ERR_DATASTORE_ALREADY_EXISTS');
      if (!isRace || attempt >= 5) throw err;
    }
  }
}

/** Reads links, addresses and (for can-reach) the route source from the kernel, with `ip -json`. */
export async function readHostView(config: Pick<NodeStartupConfig, 'ipv4Method' | 'ipv6Method'>, run: CommandRunner = runCommand): Promise<HostView> {
  const ip = createIpRunner(run);
  const [links, addresses] = await Promise.all([ip.links(), ip.addresses()]);
  const source = async (method: AutodetectionMethod, flag: '-4' | '-6'): Promise<string | null> => {
    if (method.kind !== 'can-reach') return null;
    try {
      const routes = JSON.parse(await run('ip', [flag, '-json', 'route', 'get', method.destination])) as { prefsrc?: string }[];
      return routes[0]?.prefsrc ?? null;
    } catch (err) {
      // No route to the destination: the method finds nothing, and says so.
      if (commandFailureOf(err) !== null) return null;
      throw err;
    }
  };
  return { links, addresses, routeSource: { 4: await source(config.ipv4Method, '-4'), 6: await source(config.ipv6Method, '-6') } };
}
