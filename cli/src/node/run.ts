/**
 * `tortie node run`: the DaemonSet's main process (DESIGN.md "Processes"):
 * the startup of `tortie node init`, then the node's parts side by side on
 * one datastore connection: routing (the BGP speaker with its routes and
 * tunnel devices) and policy (felix), with one /liveness and /readiness
 * for both; and the CNI agent, the plugin's fast path on a Unix socket. Runs until SIGTERM/SIGINT (exit 0; routes and rules stay, so
 * pods keep working while it restarts), or until a part cannot program the
 * kernel (exit 1: fail closed, the DaemonSet restarts it).
 */
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { parseSpeakerConfig, startSpeakerAgent, type RunningSpeaker } from '../../../bgp-speaker/src/main.js';
import { startCniAgent, type CniAgent } from '../../../cni/src/agent/server.js';
import { CNI_TOKEN_NAME, DEFAULT_CNI_NET_DIR, DEFAULT_SERVICE_ACCOUNT_DIR } from '../../../cni/src/install/config.js';
import { writeCniToken } from '../../../cni/src/install/install.js';
import { parseFelixConfig, startHealthServer, startPolicyAgent, type RunningPolicyAgent } from '../../../felix/src/main.js';
import { CNI_AGENT_SOCKET, CNI_AGENT_SOCKET_ENV } from '../../../lib/contract.js';
import { TortieError } from '../../../lib/errors.js';
import { createLogger, type Logger } from '../../../lib/log.js';
import type { CommandContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { parseNodeStartupConfig } from './config.js';
import { readHostView, runNodeStartup } from './startup.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface NodeRunOptions {
  readonly nodeNameFile?: string;
  /** Resolves when the process should stop (SIGTERM/SIGINT by default). */
  readonly stopSignal?: Promise<void>;
}

function signalled(): Promise<void> {
  return new Promise((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve());
  });
}

/** How often the CNI plugin's token file is refreshed from this pod's service account. */
export const CNI_TOKEN_RENEW_INTERVAL_MS = 60_000;

/**
 * The CNI plugin's kubeconfig names a token file that `tortie cni install`
 * copied from this pod's service account. The kubelet renews the pod's token
 * (bound tokens expire within hours), so the copy is refreshed while the node
 * agent runs, or the plugin's calls start failing with 401 (calico#4857).
 * Only where the install wrote that file: not on a host set up otherwise.
 */
export function startCniTokenRenewal(env: Env, log: Logger, intervalMs = CNI_TOKEN_RENEW_INTERVAL_MS): NodeJS.Timeout | null {
  const netDir = env['CNI_NET_DIR'] || DEFAULT_CNI_NET_DIR;
  const serviceAccountDir = env['TORTIE_SERVICEACCOUNT_DIR'] || DEFAULT_SERVICE_ACCOUNT_DIR;
  if (!existsSync(join(netDir, CNI_TOKEN_NAME)) || !existsSync(join(serviceAccountDir, 'token'))) return null;
  const renew = () =>
    void writeCniToken({ netDir, serviceAccountDir }).then(
      (file) => file.isChanged && log.info({ file: file.path }, 'CNI plugin token renewed'),
      (err: unknown) => log.warn({ err }, 'cannot renew the CNI plugin token; will retry'),
    );
  renew();
  return setInterval(renew, intervalMs);
}

export async function runNodeAgent(ctx: CommandContext, env: Env, options: NodeRunOptions = {}): Promise<ExitCode> {
  const startupConfig = parseNodeStartupConfig(env);
  if (startupConfig.backend === 'vxlan') {
    throw new TortieError(
      'ERR_CONFIG_INVALID',
      'CALICO_NETWORKING_BACKEND=vxlan: routes without BGP are not built yet; use bird (BGP between nodes carries the blocks) with CALICO_IPV4POOL_VXLAN=Always or CrossSubnet for the encapsulation',
    );
  }
  const datastore = await ctx.datastore();
  const startup = await runNodeStartup(startupConfig, {
    datastore,
    readHost: () => readHostView(startupConfig),
    ...(options.nodeNameFile === undefined ? {} : { nodeNameFile: options.nodeNameFile }),
  });
  const nodeName = startup.nodeName;
  const partEnv = { ...env, NODENAME: nodeName };
  const felixConfig = parseFelixConfig(partEnv, nodeName);
  const speakerConfig = parseSpeakerConfig(partEnv, nodeName);
  const log = createLogger({ name: 'node' });
  log.info({ node: nodeName, ipv4: startup.ipv4?.address ?? null, backend: startupConfig.backend }, 'registered; starting routing and policy');

  let fatal: unknown = null;
  let wake: () => void = () => undefined;
  const failed = new Promise<void>((resolve) => (wake = resolve));
  const onFatal = (err: unknown) => {
    fatal ??= err;
    wake();
  };
  let speaker: RunningSpeaker | null = null;
  let policy: RunningPolicyAgent | null = null;
  let cniAgent: CniAgent | null = null;
  let server: Server | null = null;
  const tokenRenewal = felixConfig.datastoreType === 'kubernetes' ? startCniTokenRenewal(env, log) : null;
  try {
    if (startupConfig.backend === 'bird') speaker = startSpeakerAgent(speakerConfig, datastore, log.child({ part: 'bgp' }), onFatal);
    policy = await startPolicyAgent(felixConfig, datastore, log.child({ part: 'felix' }), onFatal);
    cniAgent = await startCniAgent({ log: log.child({ part: 'cni' }), socketPath: env[CNI_AGENT_SOCKET_ENV] || CNI_AGENT_SOCKET });
    const loop = policy.loop;
    if (felixConfig.healthPort !== 0) {
      server = startHealthServer({ get live() { return fatal === null && loop.live; }, get ready() { return fatal === null && loop.ready; } }, felixConfig);
    }
    await Promise.race([options.stopSignal ?? signalled(), failed]);
  } finally {
    if (tokenRenewal !== null) clearInterval(tokenRenewal);
    server?.close();
    await cniAgent?.close();
    await policy?.stop();
    await speaker?.stop();
  }
  if (fatal !== null) {
    ctx.stderr(`tortie node: ${(fatal as Error).message ?? String(fatal)}; stopped (fail closed)\n`);
    return ExitCode.InvalidInput;
  }
  log.info({ node: nodeName }, 'stopped');
  return ExitCode.Ok;
}
