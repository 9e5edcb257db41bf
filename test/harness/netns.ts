/**
 * Network namespaces, links and processes for integration tests, each
 * uniquely named (`tt-` + random) and removed by `cleanup()` (call it in
 * afterEach): namespaces by name, host links and addresses by name, processes
 * by pid. Nothing is removed by pattern, so tests of other people running at
 * the same time on the same machine are never touched.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandLine, runCommand } from '../../lib/kernel/exec.js';
import { createIpRunner, type IpRunner } from '../../lib/kernel/ip.js';
import { createNetnsManager, netnsExists, netnsRefFromName, type NetnsRef } from '../../lib/kernel/netns.js';
import { afterAll, beforeAll } from 'vitest';

/** Why integration tests cannot run here, or null when they can (root, or CAP_NET_ADMIN and CAP_SYS_ADMIN). */
export async function kernelAccessProblem(): Promise<string | null> {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  let capEff = 0n;
  try {
    const status = await readFile('/proc/self/status', 'utf8');
    const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
    capEff = hex === undefined ? 0n : BigInt(`0x${hex}`);
  } catch (err) {
    return `cannot read /proc/self/status (${(err as Error).message})`;
  }
  const CAP_NET_ADMIN = 12n;
  const CAP_SYS_ADMIN = 21n; // ip netns add mounts
  const missing = [
    ...((capEff >> CAP_NET_ADMIN) & 1n ? [] : ['CAP_NET_ADMIN']),
    ...((capEff >> CAP_SYS_ADMIN) & 1n ? [] : ['CAP_SYS_ADMIN']),
  ];
  if (missing.length > 0) return `needs root (missing ${missing.join(', ')}); run the netns project as root`;
  return null;
}

/** A name nobody else uses: `tt-` + label + random hex, within IFNAMSIZ when short labels are used. */
export function uniqueName(label = '', randomHexDigits = 8): string {
  return `tt-${label}${randomBytes(Math.ceil(randomHexDigits / 2)).toString('hex').slice(0, randomHexDigits)}`;
}

/** Polls `check` until it returns a non-null value or the deadline passes (never a fixed sleep). */
export async function pollUntil<T>(
  what: string,
  check: () => Promise<T | null | undefined | false>,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 5_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== null && value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 25));
  }
}

/** Whether the host has the pods' gateway route that attachments add (cni/src/plan.ts GATEWAY_ROUTE_COMMAND). */
export async function hasGatewayRoute(h: { hostIp: IpRunner }): Promise<boolean> {
  return (await h.hostIp.routes(4)).some((r) => r.dst === '169.254.1.1/32' && r.dev === 'lo');
}

/** Removes that route (after tests on a shared host namespace that did not have it before). */
export async function removeGatewayRoute(h: { hostIp: IpRunner }): Promise<void> {
  if (await hasGatewayRoute(h)) await h.hostIp.batch(['route del 169.254.1.1/32 dev lo']);
}

/**
 * Registers hooks that leave the host's 169.254.1.1 route as the file found it:
 * attachments add it host-wide, and this host namespace is shared with other tests.
 */
export function keepGatewayRouteAsFound(): void {
  let hadGatewayRoute = true;
  beforeAll(async () => {
    hadGatewayRoute = await hasGatewayRoute(createNetnsHarness());
  });
  afterAll(async () => {
    if (!hadGatewayRoute) await removeGatewayRoute(createNetnsHarness());
  });
}

export interface NetnsHarness {
  /** The host (this process's namespace) as an IpRunner. */
  readonly hostIp: IpRunner;
  /** A fresh named namespace `tt-<label><random>`, deleted by cleanup(). */
  makeNetns(label?: string): Promise<NetnsRef>;
  /** A veth pair `a` (in `aNs`, default host) / `b` (in `bNs`), created in place; deleted by cleanup(). */
  makeVeth(a: string, b: string, options?: { aNs?: NetnsRef; bNs?: NetnsRef }): Promise<void>;
  /** Remember a host link to delete in cleanup() (if it still exists). */
  trackHostLink(name: string): void;
  /** Add an address to a host link, removed again in cleanup(). */
  addHostAddress(cidr: string, dev: string): Promise<void>;
  /** Run a command (to completion) inside a namespace, or the host when ns is null. */
  exec(ns: NetnsRef | null, file: string, args: readonly string[]): Promise<string>;
  /** Start a long-running process inside a namespace; killed by pid in cleanup(). */
  spawnIn(ns: NetnsRef | null, file: string, args: readonly string[]): ChildProcess;
  /**
   * Makes 127.0.0.1:`port` of this process's namespace (an etcd, an API
   * server) answer on 127.0.0.1:`port` inside `ns`: two socats joined by a
   * Unix socket, which crosses namespaces. Stopped and removed by cleanup().
   */
  forwardLoopbackPort(ns: NetnsRef, port: number): Promise<void>;
  /** One ICMP echo from `from` (null: the host) to `address`; true when answered. */
  ping(from: NetnsRef | null, address: string, options?: { timeoutSec?: number }): Promise<boolean>;
  cleanup(): Promise<void>;
}

export function createNetnsHarness(): NetnsHarness {
  const manager = createNetnsManager(runCommand);
  const hostIp = createIpRunner(runCommand);
  const namespaces: string[] = [];
  const hostLinks: string[] = [];
  const hostAddresses: { cidr: string; dev: string }[] = [];
  const children: ChildProcess[] = [];
  const tempDirs: string[] = [];

  const exec = (ns: NetnsRef | null, file: string, args: readonly string[]) =>
    runCommand(file, args, ns === null ? {} : { netns: ns.path });

  function spawnIn(ns: NetnsRef | null, file: string, args: readonly string[]): ChildProcess {
    const [bin, ...argv] = commandLine(file, args, ns?.path);
    const child = spawn(bin as string, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    return child;
  }

  return {
    hostIp,
    async makeNetns(label = '') {
      const name = uniqueName(label);
      namespaces.push(name);
      return manager.create(name);
    },
    async makeVeth(a, b, options = {}) {
      const aIp = options.aNs ? hostIp.inNetns(options.aNs) : hostIp;
      if (!options.aNs) hostLinks.push(a);
      const peerNs = options.bNs ? ` netns ${options.bNs.path}` : '';
      await aIp.batch([`link add ${a} type veth peer name ${b}${peerNs}`]);
    },
    trackHostLink(name) {
      hostLinks.push(name);
    },
    async addHostAddress(cidr, dev) {
      await hostIp.batch([`addr add ${cidr} dev ${dev}`]);
      hostAddresses.push({ cidr, dev });
    },
    exec,
    spawnIn,
    async forwardLoopbackPort(ns, port) {
      const dir = await mkdtemp(join(tmpdir(), 'tt-forward-'));
      tempDirs.push(dir);
      const sock = join(dir, 'port.sock');
      spawnIn(null, 'socat', [`UNIX-LISTEN:${sock},fork`, `TCP:127.0.0.1:${port}`]);
      spawnIn(ns, 'socat', [`TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${sock}`]);
      await pollUntil(`127.0.0.1:${port} forwarded into ${ns.name ?? ns.path}`, async () =>
        existsSync(sock) && (await exec(ns, 'ss', ['-Hltn', `sport = :${port}`])).includes(`:${port}`),
      );
    },
    async ping(from, address, options = {}) {
      const args = ['-c', '1', '-W', String(options.timeoutSec ?? 2), '-n', '-q', address];
      try {
        await exec(from, 'ping', args);
        return true;
      } catch (err) {
        // ping exits 1 when no answer came: that is the answer "false". Anything else is a test bug.
        if ((err as { details?: { exitCode?: number } }).details?.exitCode === 1) return false;
        throw err;
      }
    },
    async cleanup() {
      const problems: string[] = [];
      for (const child of children.splice(0)) {
        if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
          try {
            process.kill(child.pid, 'SIGKILL');
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ESRCH') problems.push(`kill ${child.pid}: ${(err as Error).message}`);
          }
        }
      }
      for (const dir of tempDirs.splice(0)) await rm(dir, { recursive: true, force: true });
      for (const { cidr, dev } of hostAddresses.splice(0)) {
        try {
          await hostIp.batch([`addr del ${cidr} dev ${dev}`]);
        } catch (err) {
          const still = (await hostIp.addresses({ dev }).catch(() => [])).some((a) => `${a.address}/${a.prefixLength}` === cidr);
          if (still) problems.push(`addr del ${cidr} dev ${dev}: ${(err as Error).message}`);
        }
      }
      for (const name of hostLinks.splice(0)) {
        try {
          if ((await hostIp.link(name)) !== null) await hostIp.batch([`link del ${name}`]);
        } catch (err) {
          if ((await hostIp.link(name)) !== null) problems.push(`link del ${name}: ${(err as Error).message}`);
        }
      }
      for (const name of namespaces.splice(0)) {
        try {
          await manager.delete(name);
        } catch (err) {
          problems.push(`netns delete ${name}: ${(err as Error).message}`);
        }
        if (await netnsExists(netnsRefFromName(name).path)) problems.push(`netns ${name} still exists`);
      }
      if (problems.length > 0) throw new Error(`test cleanup left things behind:\n${problems.join('\n')}`);
    },
  };
}
