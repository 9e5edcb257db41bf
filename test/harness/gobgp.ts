/**
 * GoBGP (gobgpd 3) for interop tests and benchmarks: `gobgpd -f CONF` started
 * inside a namespace by the netns harness (killed by pid in its cleanup(),
 * or by stop()), its TOML config in a temp dir, its gRPC API on that
 * namespace's loopback (so every instance can use the same port), its log
 * kept for failure messages, and the `gobgp` CLI run inside the namespace.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../../lib/kernel/exec.js';
import type { NetnsRef } from '../../lib/kernel/netns.js';
import { pollUntil, type NetnsHarness } from './netns.js';
import { stopProcess } from './process.js';

export const GOBGP_API_PORT = 50051;

/** One path of `gobgp -j global rib` (the fields the tests read). */
export interface GobgpPath {
  nlri?: { prefix?: string };
  attrs?: { type: number; nexthop?: string; value?: number; as_paths?: { asns: number[] }[]; originator_id?: string; cluster_list?: string[] }[];
  'source-id'?: string;
  'neighbor-ip'?: string;
  stale?: boolean;
}

export interface GobgpInstance {
  readonly process: ChildProcess;
  readonly dir: string;
  /** Everything gobgpd logged so far. */
  log(): string;
  /** The `gobgp` CLI against this instance (run in its namespace). */
  gobgp(...args: string[]): Promise<string>;
  /** `session_state` of `gobgp -j neighbor ADDR`, normalised to lower case ("established", "active", ...), or null. */
  neighborState(address: string): Promise<string | null>;
  /** `gobgp -j global rib -a ipv4`: prefix → paths. */
  rib(): Promise<Record<string, GobgpPath[]>>;
  /** The number of IPv4 destinations in the global RIB (`gobgp -j global rib summary`). */
  ribCount(): Promise<number>;
  /** Kills gobgpd (SIGTERM, then SIGKILL) and removes the temp dir. */
  stop(): Promise<void>;
}

const SESSION_STATES: Record<number, string> = { 1: 'idle', 2: 'connect', 3: 'active', 4: 'opensent', 5: 'openconfirm', 6: 'established' };

/** Whether gobgpd and gobgp are installed. */
export async function gobgpAvailable(): Promise<boolean> {
  try {
    await runCommand('gobgpd', ['--version']);
    await runCommand('gobgp', ['--version']);
    return true;
  } catch {
    return false;
  }
}

export async function startGobgp(harness: NetnsHarness, ns: NetnsRef, config: string): Promise<GobgpInstance> {
  const dir = await mkdtemp(join(tmpdir(), 'tt-gobgp-'));
  const conf = join(dir, 'gobgpd.toml');
  await writeFile(conf, config);
  const child = harness.spawnIn(ns, 'gobgpd', ['-f', conf, '-p', '--api-hosts', `127.0.0.1:${GOBGP_API_PORT}`, '--pprof-disable']);
  let log = '';
  child.stdout?.on('data', (b: Buffer) => (log += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (log += b.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const gobgp = (...args: string[]) => harness.exec(ns, 'gobgp', ['-u', '127.0.0.1', '-p', String(GOBGP_API_PORT), ...args]);
  const instance: GobgpInstance = {
    process: child,
    dir,
    log: () => log,
    gobgp,
    async neighborState(address) {
      const j = JSON.parse(await gobgp('-j', 'neighbor', address)) as { state?: { session_state?: number | string } };
      const st = j.state?.session_state;
      if (st === undefined) return null;
      return typeof st === 'number' ? (SESSION_STATES[st] ?? String(st)) : st.toLowerCase();
    },
    async rib() {
      const out = await gobgp('-j', 'global', 'rib', '-a', 'ipv4');
      return (out.trim() === '' ? {} : JSON.parse(out)) as Record<string, GobgpPath[]>;
    },
    async ribCount() {
      const out = await gobgp('global', 'rib', 'summary', '-a', 'ipv4');
      const m = /Destination:\s*(\d+)/.exec(out);
      return m === null ? 0 : Number(m[1]);
    },
    async stop() {
      await stopProcess(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    let isUp = false;
    await Promise.race([
      pollUntil('gobgpd API', async () => (await gobgp('global')).includes('AS'), { timeoutMs: 10_000, intervalMs: 100 }).then(() => (isUp = true)),
      exited.then(() => {
        if (!isUp) throw new Error(`gobgpd exited (${child.exitCode ?? child.signalCode}): ${log}`);
      }),
    ]);
  } catch (err) {
    await instance.stop();
    throw err;
  }
  return instance;
}
