/**
 * FRR (zebra + bgpd) for interop tests: both daemons started inside a
 * namespace by the netns harness (killed by pid in its cleanup(), or by
 * stop()), foreground, every config, pid file, zserv socket and vty socket
 * in a temp dir, so they never meet the machine's own FRR. Zebra installs
 * what bgpd selects into the namespace's kernel (protocol "bgp"); with
 * `zebra: false` bgpd runs alone (`-Z`) and only its BGP table can be read.
 * `vtysh --vty_socket DIR` talks to them.
 */
import type { ChildProcess } from 'node:child_process';
import { access, chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetnsRef } from '../../lib/kernel/netns.js';
import { pollUntil, type NetnsHarness } from './netns.js';
import { stopProcess } from './process.js';

export const FRR_DAEMONS = '/usr/lib/frr';

/** One path of `show bgp ipv4 unicast json` (the fields the tests read). */
export interface FrrPath {
  valid?: boolean;
  bestpath?: boolean;
  nexthops?: { ip?: string }[];
  path?: string;
  aspath?: { string?: string };
  peerId?: string;
  /** RFC 4724: kept from a restarting peer until its End-of-RIB. */
  stale?: boolean;
}

export interface FrrInstance {
  readonly dir: string;
  readonly bgpd: ChildProcess;
  readonly zebra: ChildProcess | null;
  /** Everything zebra and bgpd logged so far. */
  log(): string;
  vtysh(command: string): Promise<string>;
  /** `bgpState` of `show bgp neighbors ADDR json` ("Established", "Active", ...), or null. */
  neighborState(address: string): Promise<string | null>;
  /** `show bgp ipv4 unicast json` routes: prefix → paths. */
  routes(): Promise<Record<string, FrrPath[]>>;
  /** Kills bgpd and zebra (SIGTERM, then SIGKILL) and removes the temp dir. */
  stop(): Promise<void>;
}

/** Whether bgpd, zebra and vtysh are installed. */
export async function frrAvailable(): Promise<boolean> {
  try {
    await access(join(FRR_DAEMONS, 'bgpd'));
    await access(join(FRR_DAEMONS, 'zebra'));
    await access('/usr/bin/vtysh');
    return true;
  } catch {
    return false;
  }
}

const kill = (child: ChildProcess | null): Promise<void> => stopProcess(child);

/**
 * Starts FRR in `ns` with `bgpdConfig` (a bgpd.conf body). `listenAddress`
 * is where bgpd accepts BGP connections (`-l`).
 */
export async function startFrr(harness: NetnsHarness, ns: NetnsRef, options: { bgpdConfig: string; listenAddress: string; zebra?: boolean }): Promise<FrrInstance> {
  const dir = await mkdtemp(join(tmpdir(), 'tt-frr-'));
  await chmod(dir, 0o777); // the daemons drop to the frr user
  const zsock = join(dir, 'zserv.api');
  await writeFile(join(dir, 'zebra.conf'), 'hostname tor\n');
  await writeFile(join(dir, 'bgpd.conf'), options.bgpdConfig);
  await writeFile(join(dir, 'vtysh.conf'), '');
  let log = '';
  const watch = (name: string, child: ChildProcess) => {
    child.stdout?.on('data', (b: Buffer) => (log += `${name}: ${b.toString()}`));
    child.stderr?.on('data', (b: Buffer) => (log += `${name}: ${b.toString()}`));
  };
  const common = (name: string) => ['-z', zsock, '-i', join(dir, `${name}.pid`), '--vty_socket', dir, '-P', '0', '--log', 'stdout'];
  const vtysh = (command: string) => harness.exec(ns, 'vtysh', ['--vty_socket', dir, '-c', command]);
  let zebra: ChildProcess | null = null;
  let bgpd: ChildProcess | null = null;
  const stop = async () => {
    await kill(bgpd);
    await kill(zebra);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    if (options.zebra !== false) {
      const z = harness.spawnIn(ns, join(FRR_DAEMONS, 'zebra'), ['-f', join(dir, 'zebra.conf'), ...common('zebra')]);
      zebra = z;
      watch('zebra', z);
      await pollUntil('zebra socket', async () => {
        if (z.exitCode !== null) throw new Error(`zebra exited (${z.exitCode})`);
        return access(zsock).then(() => true);
      }, { timeoutMs: 10_000, intervalMs: 50 });
    }
    const b = harness.spawnIn(ns, join(FRR_DAEMONS, 'bgpd'), ['-f', join(dir, 'bgpd.conf'), '-l', options.listenAddress, ...(options.zebra === false ? ['-Z'] : []), ...common('bgpd')]);
    bgpd = b;
    watch('bgpd', b);
    await pollUntil('bgpd vty', async () => {
      if (b.exitCode !== null) throw new Error(`bgpd exited (${b.exitCode})`);
      return (await vtysh('show bgp summary json')).includes('{');
    }, { timeoutMs: 15_000, intervalMs: 100 });
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${log}`);
  }
  const bgpdChild = bgpd as ChildProcess;
  return {
    dir,
    bgpd: bgpdChild,
    zebra,
    log: () => log,
    vtysh,
    async neighborState(address) {
      const j = JSON.parse(await vtysh(`show bgp neighbors ${address} json`)) as Record<string, { bgpState?: string }>;
      return j[address]?.bgpState ?? null;
    },
    async routes() {
      const j = JSON.parse(await vtysh('show bgp ipv4 unicast json')) as { routes?: Record<string, FrrPath[]> };
      return j.routes ?? {};
    },
    stop,
  };
}
