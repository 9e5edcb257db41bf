/**
 * BIRD 2 for interop tests: `bird -c CONF -s SOCK -f` started inside a
 * namespace by the netns harness (so it is killed by pid in cleanup()), its
 * config and control socket in a temp dir, its log (stderr) kept for failure
 * messages, and `birdc` through the control socket.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { runCommand } from '../../lib/kernel/exec.js';
import type { NetnsRef } from '../../lib/kernel/netns.js';
import { pollUntil, type NetnsHarness } from './netns.js';
import { stopProcess } from './process.js';

export interface BirdInstance {
  readonly socketPath: string;
  readonly process: ChildProcess;
  /** Everything BIRD logged so far. */
  log(): string;
  birdc(...args: string[]): Promise<string>;
  /** The state column of `show protocols` for one protocol, e.g. "Established". */
  bgpState(protocol: string): Promise<string | null>;
  /** Kills BIRD (SIGTERM, then SIGKILL) and removes the temp dir. */
  stop(): Promise<void>;
}

/** Whether bird and birdc are installed. */
export async function birdAvailable(): Promise<boolean> {
  try {
    await runCommand('bird', ['--version']);
    return true;
  } catch {
    return false;
  }
}

export async function startBird(harness: NetnsHarness, ns: NetnsRef, config: string): Promise<BirdInstance> {
  const dir = await mkdtemp(join(tmpdir(), 'tt-bird-'));
  const conf = join(dir, 'bird.conf');
  const socketPath = join(dir, 'bird.ctl');
  await writeFile(conf, config);
  const child = harness.spawnIn(ns, 'bird', ['-c', conf, '-s', socketPath, '-f']);
  let log = '';
  child.stdout?.on('data', (b: Buffer) => (log += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (log += b.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const birdc = (...args: string[]) => runCommand('birdc', ['-s', socketPath, ...args]);
  const instance: BirdInstance = {
    socketPath,
    process: child,
    log: () => log,
    birdc,
    async bgpState(protocol) {
      const out = await birdc('show', 'protocols', protocol);
      const line = out.split('\n').find((l) => l.startsWith(`${protocol} `));
      if (line === undefined) return null;
      // name  proto  table  state  since  info   ("Established" is in the info column)
      const cols = line.trim().split(/\s+/);
      return cols.slice(5).join(' ') || (cols[3] ?? null);
    },
    async stop() {
      await stopProcess(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    let isUp = false;
    await Promise.race([
      pollUntil('BIRD control socket', async () => (await birdc('show', 'status')).includes('Daemon is up'), { timeoutMs: 10_000, intervalMs: 50 }).then(() => (isUp = true)),
      exited.then(() => {
        if (!isUp) throw new Error(`bird exited (${child.exitCode ?? child.signalCode}): ${log}`);
      }),
    ]);
  } catch (err) {
    await instance.stop();
    throw err;
  }
  return instance;
}
