/**
 * tortie-cni (conflist type `tortie`) doing the whole job in this process:
 * the composition root. Environment + stdin → command → CniOutcome. main.ts
 * (the executable) calls it when the CNI agent does not answer, and the agent
 * (agent/server.ts) calls the same runCni with its warm dependencies.
 *
 * - stdout carries only the protocol: a result, a VERSION answer, or a CNI
 *   error object (then exit 1). Logs go to stderr (lib/log.ts).
 * - Every failure is converted once, here: a CniError passes through, a
 *   TortieError is mapped by its code, anything else is 999 (errors.ts).
 * - Everything past parsing is imported lazily: VERSION loads no command,
 *   kernel or logging code, and a command loads only its own module and the
 *   datastore client the config names (etcd3 with gRPC, or client-node),
 *   because a fresh Node process pays for every module it loads.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Datastore } from '../../lib/datastore/types.js';
import type { CommandRunner } from '../../lib/kernel/exec.js';
import type { IpRunnerOptions } from '../../lib/kernel/ip.js';
import type { Logger } from '../../lib/log.js';
import type { DatapathRunners } from './attach.js';
import type { CniDeps } from './commands/deps.js';
import { CniError, CniErrorCodes, toCniErrorJson } from './errors.js';
import { errorVersionOf, parseCniRequest, parseCommand, type CniRequest, type TortieNetConf } from './request.js';
import { convertResult } from './result.js';
import { versionResult } from './version.js';

export interface CniOutcome {
  /** What to print on stdout ('' for none: DEL, CHECK, STATUS and GC succeed silently). */
  stdout: string;
  exitCode: 0 | 1;
}

/** What runCni builds for a request (`env` is the request's environment); a test or the agent may build its own. */
export type DepsFactory = (req: CniRequest, log: Logger, env: Readonly<Record<string, string | undefined>>) => Promise<CniDeps>;

export interface RunCniOptions {
  /** Close the datastore after the command (a one-shot process does; the agent keeps it warm). Default true. */
  closeDatastore?: boolean;
  /** The logger to use instead of one made from the config's `log_level` (the agent's own). */
  log?: Logger;
  /** What `parseCniRequest` already made of this env and stdin (the agent parses to choose a datastore). */
  request?: CniRequest;
}

type Env = Readonly<Record<string, string | undefined>>;

function logLevelOf(conf: TortieNetConf, env: Env): string {
  switch (conf.log_level) {
    case undefined:
      return env['LOG_LEVEL'] ?? 'warn';
    case 'none':
      return 'silent';
    case 'warning':
      return 'warn';
    default:
      return conf.log_level;
  }
}

export function nodeNameOf(conf: TortieNetConf, env: Env): string {
  if (conf.nodename) return conf.nodename;
  if (conf.nodename_file) {
    try {
      const name = readFileSync(conf.nodename_file, 'utf8').trim();
      if (name) return name;
    } catch (err) {
      throw new CniError(CniErrorCodes.IoFailure, `cannot read nodename_file ${conf.nodename_file}: ${(err as Error).message}`, { cause: err });
    }
  }
  return env['NODENAME'] || hostname();
}

export async function openDatastore(conf: TortieNetConf): Promise<Datastore> {
  if (conf.datastore_type === 'etcdv3') {
    const { createEtcdDatastore } = await import('../../lib/datastore/etcd.js');
    const endpoints = (conf.etcd_endpoints ?? '').split(',').map((e) => e.trim()).filter((e) => e !== '');
    return createEtcdDatastore({ endpoints, requestTimeoutMs: 10_000 });
  }
  const { createKubernetesDatastore } = await import('../../lib/datastore/kubernetes.js');
  const kubeconfigPath = conf.kubernetes?.kubeconfig;
  return createKubernetesDatastore(kubeconfigPath ? { kubeconfigPath } : {});
}

/** The kernel of this host, as the datapath uses it; `run` runs `ip` (default: runCommand; the agent passes its spawner's). */
export async function createDatapathRunners(run?: CommandRunner, ipOptions: IpRunnerOptions = {}): Promise<DatapathRunners> {
  const [{ runCommand }, { createIpRunner }, { netnsExists }, { createProcSysctl }] = await Promise.all([
    import('../../lib/kernel/exec.js'),
    import('../../lib/kernel/ip.js'),
    import('../../lib/kernel/netns.js'),
    import('../../lib/kernel/sysctl.js'),
  ]);
  return { ip: createIpRunner(run ?? runCommand, null, ipOptions), sysctl: createProcSysctl(), netnsExists };
}

/** The real dependencies: the datastore the config names, and the kernel of this host. */
export const defaultDeps: DepsFactory = async (req, log, env) => {
  const [{ runCommand }, runners] = await Promise.all([import('../../lib/kernel/exec.js'), createDatapathRunners()]);
  return { datastore: await openDatastore(req.config), runners, nodeName: nodeNameOf(req.config, env), log, runPlugin: runCommand };
};

/** One CNI call, without touching the process: testable, and main() only does I/O around it. */
export async function runCni(env: Env, stdin: string, makeDeps: DepsFactory = defaultDeps, options: RunCniOptions = {}): Promise<CniOutcome> {
  let log: Logger | null = null;
  let deps: CniDeps | null = null;
  try {
    const command = parseCommand(env);
    if (command === 'VERSION') {
      const requested = stdin.trim() === '' ? undefined : errorVersionOf(stdin);
      return { stdout: JSON.stringify(versionResult(requested)), exitCode: 0 };
    }
    const req = options.request ?? parseCniRequest(env, stdin, { plugin: 'tortie' });
    if (options.log === undefined) {
      const { createLogger } = await import('../../lib/log.js');
      log = createLogger({ level: logLevelOf(req.config, env), name: 'tortie-cni' });
    } else {
      log = options.log;
    }
    deps = await makeDeps(req, log, env);
    switch (req.command) {
      case 'ADD': {
        const { cmdAdd } = await import('./commands/add.js');
        return { stdout: JSON.stringify(convertResult(await cmdAdd(req, deps), req.cniVersion)), exitCode: 0 };
      }
      case 'DEL':
        await (await import('./commands/del.js')).cmdDel(req, deps);
        return { stdout: '', exitCode: 0 };
      case 'CHECK':
        await (await import('./commands/check.js')).cmdCheck(req, deps);
        return { stdout: '', exitCode: 0 };
      case 'STATUS':
        await (await import('./commands/status.js')).cmdStatus(deps);
        return { stdout: '', exitCode: 0 };
      case 'GC':
        await (await import('./commands/gc.js')).cmdGc(req, deps);
        return { stdout: '', exitCode: 0 };
      default:
        throw new CniError(CniErrorCodes.InvalidEnvironment, `CNI_COMMAND ${req.command} is not handled`);
    }
  } catch (err) {
    const json = toCniErrorJson(err, errorVersionOf(stdin));
    log?.error({ code: json.code, err }, 'command failed');
    return { stdout: JSON.stringify(json), exitCode: 1 };
  } finally {
    if (options.closeDatastore !== false) await deps?.datastore.close().catch((err: unknown) => log?.warn({ err }, 'closing the datastore failed'));
  }
}

/** The outcome when the plugin could not even read its stdin. */
export function stdinFailureOutcome(err: unknown, stdin: string): CniOutcome {
  const failure = new CniError(CniErrorCodes.IoFailure, `reading stdin failed: ${(err as Error).message}`, { cause: err });
  return { stdout: JSON.stringify(toCniErrorJson(failure, errorVersionOf(stdin))), exitCode: 1 };
}
