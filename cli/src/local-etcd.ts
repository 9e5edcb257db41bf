import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { TortieError } from '../../lib/errors.js';

/**
 * A local etcd for trying tortie out (`tortie etcd start|stop|status`):
 * Debian's etcd on a loopback address, its data in a directory that survives
 * restarts, a pid file and a log file beside that directory
 * (`/var/lib/tortie/etcd.pid`, `/var/lib/tortie/etcd.log`). Not for
 * production: one member, plain HTTP.
 */
export interface LocalEtcdSettings {
  readonly binary: string;
  readonly dataDir: string;
  /** The client URL it serves, from ETCD_ENDPOINTS (its first entry); must be on a loopback address. */
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly pidFile: string;
  readonly logFile: string;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
export const DEFAULT_CLIENT_PORT = 2379;
const MEMBER_NAME = 'tortie';

/** Settings from the configured endpoint and data dir; the peer port is the client port + 1 (2380 by default). Pure. */
export function planLocalEtcd(endpoint: string, dataDir: string, binary: string): LocalEtcdSettings {
  const url = new URL(endpoint);
  if (url.protocol !== 'http:' || !LOOPBACK.has(url.hostname)) {
    throw new TortieError(
      'ERR_USAGE',
      `tortie etcd runs a local etcd on a loopback address over http, but ETCD_ENDPOINTS names ${endpoint}; unset it or use http://127.0.0.1:${DEFAULT_CLIENT_PORT}`,
    );
  }
  const host = url.hostname === 'localhost' ? '127.0.0.1' : url.hostname;
  const clientPort = url.port === '' ? DEFAULT_CLIENT_PORT : Number(url.port);
  const trimmed = dataDir.replace(/\/+$/, '');
  return {
    binary,
    dataDir: trimmed,
    clientUrl: `http://${host}:${clientPort}`,
    peerUrl: `http://${host}:${clientPort + 1}`,
    pidFile: `${trimmed}.pid`,
    logFile: `${trimmed}.log`,
  };
}

/** The etcd command line for these settings. Pure. */
export function etcdArguments(settings: LocalEtcdSettings): string[] {
  return [
    `--name=${MEMBER_NAME}`,
    `--data-dir=${settings.dataDir}`,
    `--listen-client-urls=${settings.clientUrl}`,
    `--advertise-client-urls=${settings.clientUrl}`,
    `--listen-peer-urls=${settings.peerUrl}`,
    `--initial-advertise-peer-urls=${settings.peerUrl}`,
    `--initial-cluster=${MEMBER_NAME}=${settings.peerUrl}`,
    '--initial-cluster-state=new',
    '--logger=zap',
  ];
}

/** Whether `pid` is a live (not zombie) etcd process. */
export function isEtcdProcess(pid: number): boolean {
  let stat: string;
  let cmdline: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch (err) {
    // No such process (ENOENT): it is not running, which is the answer.
    void err;
    return false;
  }
  // The state follows the parenthesised command name: "1234 (etcd) S ...".
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  if (state === 'Z' || state === 'X') return false;
  const argv0 = cmdline.split('\0')[0] ?? '';
  return argv0.endsWith('etcd');
}

/** The pid in the pid file when that process is a running etcd, else null. */
export function runningPid(settings: LocalEtcdSettings): number | null {
  let text: string;
  try {
    text = readFileSync(settings.pidFile, 'utf8');
  } catch (err) {
    // No pid file: never started, or stopped cleanly.
    void err;
    return null;
  }
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 && isEtcdProcess(pid) ? pid : null;
}

export async function isHealthy(clientUrl: string, timeoutMs = 1000): Promise<boolean> {
  try {
    const response = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return false;
    const body = (await response.json()) as { health?: unknown };
    return body.health === 'true' || body.health === true;
  } catch (err) {
    // Refused or slow: not healthy (yet); callers poll with a deadline.
    void err;
    return false;
  }
}

function logTail(settings: LocalEtcdSettings, lines = 5): string {
  try {
    const text = readFileSync(settings.logFile, 'utf8').trimEnd().split('\n');
    return text.slice(-lines).join('\n');
  } catch (err) {
    void err; // no log yet: nothing to show
    return '';
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export type StartOutcome =
  | { readonly outcome: 'started'; readonly pid: number }
  | { readonly outcome: 'already-running'; readonly pid: number }
  /** Something else (not started by tortie) already answers on the client URL. */
  | { readonly outcome: 'foreign' };

/** Starts etcd unless it runs already, and waits until /health says true. */
export async function startLocalEtcd(settings: LocalEtcdSettings, readyTimeoutMs = 30_000): Promise<StartOutcome> {
  const existing = runningPid(settings);
  if (existing !== null) {
    await waitHealthy(settings, readyTimeoutMs, () => isEtcdProcess(existing));
    return { outcome: 'already-running', pid: existing };
  }
  if (await isHealthy(settings.clientUrl)) return { outcome: 'foreign' };

  let log: number;
  try {
    mkdirSync(settings.dataDir, { recursive: true, mode: 0o700 });
    log = openSync(settings.logFile, 'a');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TortieError(
      'ERR_CONFIG_INVALID',
      `cannot create ${settings.dataDir} or ${settings.logFile} (${code ?? (err as Error).message}); run as root or set TORTIE_ETCD_DATA_DIR to a directory you can write`,
      { cause: err },
    );
  }
  let pid: number | undefined;
  let exitCode: number | null | undefined;
  let spawnError: Error | undefined;
  try {
    const child = spawn(settings.binary, etcdArguments(settings), { detached: true, stdio: ['ignore', log, log] });
    child.once('error', (err) => {
      spawnError = err;
    });
    child.once('exit', (code, signal) => {
      exitCode = code ?? (signal === null ? -1 : 128);
    });
    pid = child.pid;
    child.unref();
  } finally {
    closeSync(log);
  }
  if (pid === undefined) {
    await sleep(10); // the 'error' event comes on the next tick
    throw new TortieError('ERR_DATASTORE_UNAVAILABLE', `cannot run ${settings.binary}: ${spawnError?.message ?? 'no pid'} (install the etcd-server package, or set TORTIE_ETCD_BINARY)`);
  }
  writeFileSync(settings.pidFile, `${pid}\n`);
  const startedPid = pid;
  try {
    await waitHealthy(settings, readyTimeoutMs, () => exitCode === undefined && spawnError === undefined);
  } catch (err) {
    if (exitCode === undefined) process.kill(startedPid, 'SIGKILL');
    rmSync(settings.pidFile, { force: true });
    throw err;
  }
  return { outcome: 'started', pid: startedPid };
}

async function waitHealthy(settings: LocalEtcdSettings, timeoutMs: number, isAlive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await isHealthy(settings.clientUrl))) {
    if (!isAlive()) {
      const tail = logTail(settings);
      throw new TortieError('ERR_DATASTORE_UNAVAILABLE', `etcd exited before it was healthy; see ${settings.logFile}${tail === '' ? '' : `:\n${tail}`}`);
    }
    if (Date.now() > deadline) {
      throw new TortieError('ERR_DATASTORE_UNAVAILABLE', `etcd at ${settings.clientUrl} not healthy after ${timeoutMs / 1000}s; see ${settings.logFile}`);
    }
    await sleep(100);
  }
}

/** Stops the etcd of the pid file (SIGTERM, then SIGKILL after `graceMs`). Returns its pid, or null if none ran. */
export async function stopLocalEtcd(settings: LocalEtcdSettings, graceMs = 10_000): Promise<number | null> {
  const pid = runningPid(settings);
  if (pid === null) {
    rmSync(settings.pidFile, { force: true });
    return null;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isEtcdProcess(pid)) {
    if (Date.now() > deadline) process.kill(pid, 'SIGKILL');
    await sleep(50);
  }
  rmSync(settings.pidFile, { force: true });
  return pid;
}
