/**
 * The CNI request (pure): the CNI_* environment and the network configuration
 * on stdin, parsed and checked once into a frozen `CniRequest`. Every problem
 * is a CniError with the spec's code and a message naming what to fix:
 * 4 for the environment (names the variable), 6 for stdin that is not JSON,
 * 1 for a version we do not speak, 2 for an unsupported value (names key and
 * value), 7 for an invalid config (each field path in `details`).
 *
 * The config keeps every field it was given (`raw`), because a delegated IPAM
 * plugin gets exactly our stdin and a chained plugin's fields are not ours.
 */
import { z } from 'zod';
import { ENDPOINT_STATUS_DIR } from '../../lib/contract.js';
import { CniError, CniErrorCodes } from './errors.js';
import { type CniCommand, COMMANDS, type CniVersion, checkVersion, versionResult } from './version.js';
import { type CniResult, parseResult } from './result.js';

/** CNI spec §2: "alphanumeric, then alphanumerics, underscore, dot or hyphen". */
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** CNI spec: a network name starts alphanumeric, then alphanumerics, underscore, dot or hyphen. */
const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** The CNI_ARGS keys Kubernetes runtimes pass (libcni's `K8S_*` conventions). */
export interface K8sArgs {
  K8S_POD_NAMESPACE?: string;
  K8S_POD_NAME?: string;
  K8S_POD_INFRA_CONTAINER_ID?: string;
  K8S_POD_UID?: string;
}
const KNOWN_ARGS = ['K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID', 'IgnoreUnknown'] as const;

/**
 * Parses `CNI_ARGS` ("K=V;K2=V2"). An unknown key is an error unless
 * `IgnoreUnknown` is true (1, true, True), as in libcni's `LoadArgs`;
 * kubelet's runtimes always set it.
 */
export function parseCniArgs(text: string | undefined): { k8s: K8sArgs; all: Record<string, string> } {
  const all: Record<string, string> = {};
  if (text === undefined || text === '') return { k8s: {}, all };
  for (const pair of text.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      throw new CniError(CniErrorCodes.InvalidEnvironment, `CNI_ARGS: ${JSON.stringify(pair)} is not KEY=VALUE (pairs are separated by ";")`);
    }
    all[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const ignoreUnknown = /^(1|true)$/i.test(all.IgnoreUnknown ?? '');
  const unknown = Object.keys(all).filter((k) => !(KNOWN_ARGS as readonly string[]).includes(k));
  if (unknown.length > 0 && !ignoreUnknown) {
    throw new CniError(
      CniErrorCodes.InvalidEnvironment,
      `CNI_ARGS: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (known: ${KNOWN_ARGS.join(', ')}; set IgnoreUnknown=1 to ignore others)`,
    );
  }
  const k8s: K8sArgs = {};
  for (const key of KNOWN_ARGS) if (key !== 'IgnoreUnknown' && all[key] !== undefined) k8s[key] = all[key];
  return { k8s, all };
}

const stringBool = z.union([z.boolean(), z.enum(['true', 'false']).transform((s) => s === 'true')]);

/** The `ipam` section when its type is `tortie-ipam` (Calico's calico-ipam fields). */
export const TortieIpamConfigSchema = z.looseObject({
  type: z.literal('tortie-ipam'),
  assign_ipv4: stringBool.default(true).describe('Assign an IPv4 address. [Default: true]'),
  assign_ipv6: stringBool.default(false).describe('Assign an IPv6 address. [Default: false]'),
  ipv4_pools: z.array(z.string().min(1)).optional().describe('IPv4 pools (names or CIDRs) to take addresses from, in order; a pod annotation overrides it.'),
  ipv6_pools: z.array(z.string().min(1)).optional().describe('IPv6 pools (names or CIDRs) to take addresses from, in order.'),
  strict_affinity: z.boolean().optional().describe('Never borrow an address from a block affine to another node.'),
  max_blocks_per_host: z.int().nonnegative().optional().describe('At most this many blocks per node (0: no limit).'),
});
export type TortieIpamConfig = z.output<typeof TortieIpamConfigSchema>;

const portMappingSchema = z.looseObject({
  hostPort: z.int().min(1).max(65535),
  containerPort: z.int().min(1).max(65535),
  protocol: z.string().optional(),
  hostIP: z.string().optional(),
});
const bandwidthSchema = z.looseObject({
  ingressRate: z.int().nonnegative().optional(),
  ingressBurst: z.int().nonnegative().optional(),
  egressRate: z.int().nonnegative().optional(),
  egressBurst: z.int().nonnegative().optional(),
});

/** The plugin configuration of type `tortie` (DESIGN.md "Processes", Calico's calico plugin fields). */
export const TortieNetConfSchema = z
  .looseObject({
    cniVersion: z.string(),
    name: z.string().regex(NETWORK_NAME, 'must start with a letter or digit, then letters, digits, "_", "." or "-"'),
    /** `tortie` for the plugin; any type when tortie-ipam is the `ipam` of another plugin (e.g. bridge). */
    type: z.string().min(1),
    datastore_type: z.enum(['kubernetes', 'etcdv3']).default('kubernetes'),
    etcd_endpoints: z.string().optional(),
    nodename: z.string().min(1).optional(),
    nodename_file: z.string().optional(),
    mtu: z.int().nonnegative().default(0),
    log_level: z.enum(['debug', 'info', 'warn', 'warning', 'error', 'none']).optional(),
    log_file_path: z.string().optional(),
    ipam: z.looseObject({ type: z.string().min(1) }).optional(),
    policy: z.looseObject({ type: z.enum(['k8s', 'none']) }).optional(),
    policy_setup_timeout_seconds: z.int().nonnegative().default(0).describe("Wait up to this long after ADD for the policy agent to program the pod's policy (0: don't wait). [Default: 0]"),
    endpoint_status_dir: z.string().startsWith('/').default(ENDPOINT_STATUS_DIR).describe('Where the policy agent writes endpoint status files.'),
    kubernetes: z.looseObject({ kubeconfig: z.string().optional(), k8s_api_root: z.string().optional() }).optional(),
    dns: z
      .looseObject({
        nameservers: z.array(z.string()).optional(),
        domain: z.string().optional(),
        search: z.array(z.string()).optional(),
        options: z.array(z.string()).optional(),
      })
      .optional(),
    prevResult: z.unknown().optional(),
    runtimeConfig: z
      .looseObject({ portMappings: z.array(portMappingSchema).optional(), bandwidth: bandwidthSchema.optional() })
      .optional(),
    'cni.dev/valid-attachments': z.array(z.looseObject({ containerID: z.string(), ifname: z.string() })).optional(),
  })
  .superRefine((conf, ctx) => {
    if (conf.datastore_type === 'etcdv3' && (conf.etcd_endpoints === undefined || conf.etcd_endpoints.trim() === '')) {
      ctx.addIssue({ code: 'custom', path: ['etcd_endpoints'], message: 'is required when datastore_type is "etcdv3" (e.g. "http://10.0.0.1:2379")' });
    }
    if (conf.ipam === undefined) {
      ctx.addIssue({ code: 'custom', path: ['ipam'], message: 'is required: {"type": "tortie-ipam"} or another IPAM plugin' });
    }
  });
export type TortieNetConf = z.output<typeof TortieNetConfSchema>;

/** One attachment the runtime still uses, from GC's `cni.dev/valid-attachments`. */
export interface GcAttachment {
  containerID: string;
  ifname: string;
}

export interface CniRequest {
  command: CniCommand;
  cniVersion: CniVersion;
  containerId: string | undefined;
  netns: string | undefined;
  ifName: string | undefined;
  /** CNI_PATH split on ":". */
  path: string[];
  k8s: K8sArgs;
  args: Record<string, string>;
  config: TortieNetConf;
  /** The `ipam` section parsed, when it is ours (`tortie-ipam`); null for a delegated IPAM plugin. */
  ipam: TortieIpamConfig | null;
  /** `prevResult` in neutral form (result.ts), when the runtime gave one. */
  prevResult: CniResult | null;
  validAttachments: GcAttachment[] | null;
  /** stdin exactly as given, for a delegated IPAM plugin. */
  stdin: string;
}

/** What the environment must hold for each command (CNI spec §2 "Parameters"). */
const REQUIRED_ENV: Record<CniCommand, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  // DEL: CNI_NETNS may be absent (the netns is gone); the plugin cleans up what it can.
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  VERSION: [],
  STATUS: [],
  GC: [],
};

function ifNameProblem(name: string): string | null {
  if (name === '') return 'is empty';
  if (name.length > 15) return `${JSON.stringify(name)} is longer than 15 characters`;
  if (name === '.' || name === '..') return `${JSON.stringify(name)} is not an interface name`;
  if (/[/:\s]/.test(name)) return `${JSON.stringify(name)} contains "/", ":" or whitespace`;
  return null;
}

/** CNI_COMMAND alone: VERSION needs nothing else, and must answer even with a bad config. */
export function parseCommand(env: Readonly<Record<string, string | undefined>>): CniCommand {
  const command = env.CNI_COMMAND;
  if (command === undefined || command === '') {
    throw new CniError(CniErrorCodes.InvalidEnvironment, `CNI_COMMAND is not set; it must be one of ${COMMANDS.join(', ')}`);
  }
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new CniError(CniErrorCodes.InvalidEnvironment, `CNI_COMMAND ${JSON.stringify(command)} is not one of ${COMMANDS.join(', ')}`);
  }
  return command as CniCommand;
}

function decodeJson(stdin: string): unknown {
  try {
    return JSON.parse(stdin);
  } catch (err) {
    throw new CniError(CniErrorCodes.DecodingFailure, `the network configuration on stdin is not JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** The cniVersion a failed request should answer in: the config's when it says one, else our latest. */
export function errorVersionOf(stdin: string): string {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' && v !== '' ? v : versionResult(undefined).cniVersion;
  } catch {
    // stdin is not JSON: there is no version to echo, so answer in ours.
    return versionResult(undefined).cniVersion;
  }
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const k of path) v = typeof v === 'object' && v !== null ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

function configError(error: z.ZodError, what: string, input: unknown): CniError {
  // An enum value we do not support is code 2 (spec: name the key and the value); the rest is 7.
  const unsupported = error.issues.find((i) => i.code === 'invalid_value' && i.path.length > 0);
  const lines = error.issues.map((i) => `${what}.${i.path.join('.')}: ${i.message}`);
  if (unsupported !== undefined) {
    const key = unsupported.path.join('.');
    return new CniError(CniErrorCodes.UnsupportedField, `unsupported value in ${what}: ${key} = ${JSON.stringify(valueAt(input, unsupported.path))} (${unsupported.message})`, {
      details: lines.join('\n'),
    });
  }
  return new CniError(CniErrorCodes.InvalidNetworkConfig, `invalid network configuration: ${lines[0]}`, { details: lines.join('\n') });
}

/**
 * Parses a whole request. VERSION is answered from `parseCommand` and
 * `versionResult` alone and never reaches here.
 */
export function parseCniRequest(
  env: Readonly<Record<string, string | undefined>>,
  stdin: string,
  options: { plugin?: 'tortie' | 'tortie-ipam' } = {},
): CniRequest {
  const plugin = options.plugin ?? 'tortie';
  const command = parseCommand(env);
  const missing = REQUIRED_ENV[command].filter((v) => env[v] === undefined || env[v] === '');
  if (missing.length > 0) {
    throw new CniError(CniErrorCodes.InvalidEnvironment, `${command} needs ${missing.join(', ')}, which ${missing.length > 1 ? 'are' : 'is'} not set`);
  }
  const containerId = env.CNI_CONTAINERID || undefined;
  if (containerId !== undefined && !CONTAINER_ID.test(containerId)) {
    throw new CniError(
      CniErrorCodes.InvalidEnvironment,
      `CNI_CONTAINERID ${JSON.stringify(containerId)} must start with a letter or digit, then letters, digits, "_", "." or "-"`,
    );
  }
  const ifName = env.CNI_IFNAME || undefined;
  if (ifName !== undefined) {
    const problem = ifNameProblem(ifName);
    if (problem !== null) throw new CniError(CniErrorCodes.InvalidEnvironment, `CNI_IFNAME ${problem}`);
  }
  const { k8s, all } = parseCniArgs(env.CNI_ARGS);

  const json = decodeJson(stdin);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CniError(CniErrorCodes.DecodingFailure, 'the network configuration on stdin must be a JSON object');
  }
  const declared = (json as { cniVersion?: unknown }).cniVersion;
  if (typeof declared !== 'string' || declared === '') {
    throw new CniError(CniErrorCodes.InvalidNetworkConfig, 'invalid network configuration: cniVersion is missing (e.g. "1.1.0")');
  }
  const cniVersion = checkVersion(command, declared);

  const parsed = TortieNetConfSchema.safeParse(json);
  if (!parsed.success) throw configError(parsed.error, 'config', json);
  const config = parsed.data;
  if (plugin === 'tortie' && config.type !== 'tortie') {
    throw new CniError(CniErrorCodes.InvalidNetworkConfig, `invalid network configuration: type is ${JSON.stringify(config.type)}, but this is the "tortie" plugin`);
  }
  if (plugin === 'tortie-ipam' && config.ipam?.type !== 'tortie-ipam') {
    throw new CniError(CniErrorCodes.InvalidNetworkConfig, `invalid network configuration: ipam.type is ${JSON.stringify(config.ipam?.type)}, but this is the "tortie-ipam" plugin`);
  }

  let ipam: TortieIpamConfig | null = null;
  if (config.ipam?.type === 'tortie-ipam') {
    const p = TortieIpamConfigSchema.safeParse(config.ipam);
    if (!p.success) throw configError(p.error, 'config.ipam', config.ipam);
    ipam = p.data;
    if (!ipam.assign_ipv4 && !ipam.assign_ipv6) {
      throw new CniError(CniErrorCodes.InvalidNetworkConfig, 'invalid network configuration: ipam.assign_ipv4 and ipam.assign_ipv6 are both false, so a pod would get no address');
    }
  }

  const prevResult = config.prevResult === undefined || config.prevResult === null ? null : parseResult(config.prevResult, 'prevResult');
  if (command === 'CHECK' && prevResult === null) {
    throw new CniError(CniErrorCodes.InvalidNetworkConfig, 'invalid network configuration: CHECK needs prevResult (the result of the ADD)');
  }

  const request: CniRequest = {
    command,
    cniVersion,
    containerId,
    netns: env.CNI_NETNS || undefined,
    ifName,
    path: (env.CNI_PATH ?? '').split(':').filter((p) => p !== ''),
    k8s,
    args: all,
    config,
    ipam,
    prevResult,
    validAttachments: config['cni.dev/valid-attachments'] ?? null,
    stdin,
  };
  return Object.freeze(request);
}
