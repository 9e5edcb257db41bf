#!/usr/bin/env node
/**
 * tortie-cni (conflist type `tortie`): the composition root and the one
 * place that exits. Environment + stdin → command → stdout.
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
import { readFileSync, realpathSync } from 'node:fs';
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import type { Datastore } from '../../lib/datastore/types.js';
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

/** What main() builds for a request; a test may build its own. */
export type DepsFactory = (req: CniRequest, log: Logger) => Promise<CniDeps>;

function logLevelOf(conf: TortieNetConf): string {
  switch (conf.log_level) {
    case undefined:
      return process.env['LOG_LEVEL'] ?? 'warn';
    case 'none':
      return 'silent';
    case 'warning':
      return 'warn';
    default:
      return conf.log_level;
  }
}

function nodeNameOf(conf: TortieNetConf): string {
  if (conf.nodename) return conf.nodename;
  if (conf.nodename_file) {
    try {
      const name = readFileSync(conf.nodename_file, 'utf8').trim();
      if (name) return name;
    } catch (err) {
      throw new CniError(CniErrorCodes.IoFailure, `cannot read nodename_file ${conf.nodename_file}: ${(err as Error).message}`, { cause: err });
    }
  }
  return process.env['NODENAME'] || hostname();
}

async function openDatastore(conf: TortieNetConf): Promise<Datastore> {
  if (conf.datastore_type === 'etcdv3') {
    const { createEtcdDatastore } = await import('../../lib/datastore/etcd.js');
    const endpoints = (conf.etcd_endpoints ?? '').split(',').map((e) => e.trim()).filter((e) => e !== '');
    return createEtcdDatastore({ endpoints, requestTimeoutMs: 10_000 });
  }
  const { createKubernetesDatastore } = await import('../../lib/datastore/kubernetes.js');
  const kubeconfigPath = conf.kubernetes?.kubeconfig;
  return createKubernetesDatastore(kubeconfigPath ? { kubeconfigPath } : {});
}

/** The real dependencies: the datastore the config names, and the kernel of this host. */
export const defaultDeps: DepsFactory = async (req, log) => {
  const [{ runCommand }, { createIpRunner }, { netnsExists }, { createProcSysctl }] = await Promise.all([
    import('../../lib/kernel/exec.js'),
    import('../../lib/kernel/ip.js'),
    import('../../lib/kernel/netns.js'),
    import('../../lib/kernel/sysctl.js'),
  ]);
  const runners: DatapathRunners = { ip: createIpRunner(runCommand), sysctl: createProcSysctl(), netnsExists };
  return { datastore: await openDatastore(req.config), runners, nodeName: nodeNameOf(req.config), log, runPlugin: runCommand };
};

/** One CNI call, without touching the process: testable, and main() only does I/O around it. */
export async function runCni(
  env: Readonly<Record<string, string | undefined>>,
  stdin: string,
  makeDeps: DepsFactory = defaultDeps,
): Promise<CniOutcome> {
  let log: Logger | null = null;
  let deps: CniDeps | null = null;
  try {
    const command = parseCommand(env);
    if (command === 'VERSION') {
      const requested = stdin.trim() === '' ? undefined : errorVersionOf(stdin);
      return { stdout: JSON.stringify(versionResult(requested)), exitCode: 0 };
    }
    const req = parseCniRequest(env, stdin, { plugin: 'tortie' });
    const { createLogger } = await import('../../lib/log.js');
    log = createLogger({ level: logLevelOf(req.config), name: 'tortie-cni' });
    deps = await makeDeps(req, log);
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
    await deps?.datastore.close().catch((err: unknown) => log?.warn({ err }, 'closing the datastore failed'));
  }
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  let outcome: CniOutcome;
  let stdin = '';
  try {
    stdin = await readStdin();
    outcome = await runCni(process.env, stdin);
  } catch (err) {
    // runCni converts everything itself; this is reading stdin failing.
    outcome = {
      stdout: JSON.stringify(toCniErrorJson(new CniError(CniErrorCodes.IoFailure, `reading stdin failed: ${(err as Error).message}`), errorVersionOf(stdin))),
      exitCode: 1,
    };
  }
  if (outcome.stdout !== '') {
    await new Promise<void>((resolve) => process.stdout.write(`${outcome.stdout}\n`, () => resolve()));
  }
  // Exit now rather than wait for clients' idle sockets and timers to wind down.
  process.exit(outcome.exitCode);
}

/** Whether this module is the program (not imported by a test); a symlinked binary counts. */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    // argv[1] is not a file (node -e, a REPL): not the program.
    return false;
  }
}

if (isEntryPoint()) void main();
