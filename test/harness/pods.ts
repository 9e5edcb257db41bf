/**
 * Pods for integration tests: a "node" network namespace (so nothing touches
 * the machine's own namespace), and pods as namespaces wired into it by the
 * CNI plugin's own code (cni/src/plan.ts planAttachment + cni/src/attach.ts
 * executePlan: veth made with its pod end in the pod's netns, /32 address,
 * default route via 169.254.1.1, host /32 route, proxy ARP).
 *
 * Each pod runs one small Node process (`POD_AGENT`) that serves TCP and UDP
 * on the given ports and makes probes on request over stdin/stdout (JSON
 * lines), so a matrix of probes costs no process per connection. Processes
 * are killed by pid and namespaces deleted by name in `cleanup()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { planAttachment, type AttachmentPlan } from '../../cni/src/plan.js';
import { executePlan } from '../../cni/src/attach.js';
import { commandLine, runCommand } from '../../lib/kernel/exec.js';
import { netnsExists, type NetnsRef } from '../../lib/kernel/netns.js';
import type { Sysctl } from '../../lib/kernel/sysctl.js';
import { createNetnsHarness, type NetnsHarness } from './netns.js';

/** Serves TCP (accept, close) and UDP (answer every datagram) on PORTS; probes on request. CommonJS for `node -e`. */
const POD_AGENT = `
const net = require('net'), dgram = require('dgram'), readline = require('readline');
const ports = JSON.parse(process.env.PORTS);
let pending = ports.length * 2;
const up = () => { if (--pending === 0) process.stdout.write(JSON.stringify({ ready: true }) + '\\n'); };
for (const p of ports) {
  net.createServer((s) => { s.on('error', () => {}); s.end(); }).listen(p, '0.0.0.0', up);
  const u = dgram.createSocket('udp4');
  u.on('message', (m, r) => u.send('pong', r.port, r.address));
  u.bind(p, '0.0.0.0', up);
}
const reply = (id, ok) => process.stdout.write(JSON.stringify({ id, ok }) + '\\n');
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const q = JSON.parse(line);
  let done = false;
  const finish = (ok, close) => { if (done) return; done = true; clearTimeout(timer); close(); reply(q.id, ok); };
  let timer;
  if (q.proto === 'tcp') {
    const s = net.connect({ host: q.host, port: q.port });
    s.on('connect', () => finish(true, () => s.destroy()));
    s.on('error', () => finish(false, () => s.destroy()));
    timer = setTimeout(() => finish(false, () => s.destroy()), q.timeoutMs);
  } else {
    const u = dgram.createSocket('udp4');
    u.on('message', () => finish(true, () => u.close()));
    u.on('error', () => finish(false, () => u.close()));
    u.send('ping', q.port, q.host);
    timer = setTimeout(() => finish(false, () => u.close()), q.timeoutMs);
  }
});
process.stdin.on('end', () => process.exit(0));
`;

/**
 * SCTP without SCTP sockets (this kernel has no SCTP module): a raw IP socket
 * of protocol 132 sends an SCTP INIT with a valid CRC32c (so conntrack sees a
 * new association, not an invalid packet) and another one reports every SCTP
 * packet that reaches the pod. A probe is allowed when its INIT arrives.
 */
const SCTP_AGENT = `
import json, socket, struct, sys, threading
def crc32c(data):
    crc = 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xffffffff
out = threading.Lock()
def emit(o):
    with out:
        sys.stdout.write(json.dumps(o) + "\\n"); sys.stdout.flush()
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, 132)
def listen():
    while True:
        data, addr = r.recvfrom(4096)
        ihl = (data[0] & 15) * 4
        sport, dport = struct.unpack("!HH", data[ihl:ihl + 4])
        emit({"src": addr[0], "sport": sport, "dport": dport})
threading.Thread(target=listen, daemon=True).start()
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 132)
emit({"ready": True})
for line in sys.stdin:
    q = json.loads(line)
    chunk = struct.pack("!BBHIIHHI", 1, 0, 20, 0x5eed0000 | (q["sport"] & 0xffff), 65535, 1, 1, 1)
    pkt = struct.pack("!HHII", q["sport"], q["port"], 0, 0) + chunk
    pkt = pkt[:8] + struct.pack("<I", crc32c(pkt)) + pkt[12:]
    s.sendto(pkt, (q["host"], 0))
`;

export interface Pod {
  readonly id: string;
  readonly address: string;
  readonly netns: NetnsRef;
  readonly plan: AttachmentPlan;
}

export interface PodNetwork {
  readonly node: NetnsRef;
  readonly pods: ReadonlyMap<string, Pod>;
  /** One connection attempt from pod `from` to `address`:`port`; true when it connected (TCP) or was answered (UDP). */
  probe(from: string, address: string, protocol: 'tcp' | 'udp', port: number, timeoutMs: number): Promise<boolean>;
  /** An SCTP INIT from pod `from` to pod `to`:`port`; true when it reached `to` (needs `sctp: true`). */
  probeSctp(from: string, to: string, port: number, timeoutMs: number): Promise<boolean>;
  cleanup(): Promise<void>;
}

/** /proc/sys of a namespace: written from a shell inside it (/proc/sys/net shows the opener's namespace). */
function netnsSysctl(ns: NetnsRef): Sysctl {
  return {
    read: async (key) => (await runCommand('cat', [`/proc/sys/${key}`], { netns: ns.path })).trim(),
    write: async (key, value) => {
      await runCommand('sh', ['-c', 'printf %s "$2" > "/proc/sys/$1"', 'sh', key, value], { netns: ns.path });
    },
  };
}

export async function createPodNetwork(specs: readonly { id: string; address: string }[], options: { ports: readonly number[]; sctp?: boolean }): Promise<PodNetwork> {
  const h: NetnsHarness = createNetnsHarness();
  const agents: ChildProcess[] = [];
  const waiting = new Map<number, (ok: boolean) => void>();
  const agentOf = new Map<string, ChildProcess>();
  const sctpOf = new Map<string, ChildProcess>();
  /** `${src}:${sport}:${dport}` at a destination pod -> resolve(true) */
  const sctpWaiting = new Map<string, Map<string, () => void>>();
  let nextSctpPort = 20_000 + Math.floor(Math.random() * 20_000);
  let nextId = 1;
  const cleanup = async () => {
    for (const a of agents.splice(0)) {
      if (a.pid !== undefined && a.exitCode === null && a.signalCode === null) {
        try {
          process.kill(a.pid, 'SIGKILL');
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
        }
      }
    }
    await h.cleanup();
  };
  try {
    const node = await h.makeNetns('node');
    const nodeIp = h.hostIp.inNetns(node);
    await runCommand('sysctl', ['-qw', 'net.ipv4.ip_forward=1'], { netns: node.path });
    await nodeIp.batch(['link set lo up']);
    const runners = { ip: nodeIp, sysctl: netnsSysctl(node), netnsExists };
    const pods = new Map<string, Pod>();
    const suffix = randomBytes(4).toString('hex');
    for (const spec of specs) {
      const netns = await h.makeNetns('pod');
      const [podNamespace, podName] = spec.id.includes('/') ? (spec.id.split('/') as [string, string]) : [null, spec.id];
      const plan = planAttachment({
        containerId: `conformance-${suffix}-${spec.id.replace('/', '-')}`,
        podNamespace,
        podName,
        ifName: 'eth0',
        netnsPath: netns.path,
        addresses: [{ family: 4, address: spec.address, prefixLength: 32 }],
        mtu: 1500,
      });
      await executePlan(plan, runners);
      await h.hostIp.inNetns(netns).batch(['link set lo up']);
      pods.set(spec.id, { id: spec.id, address: spec.address, netns, plan });
    }
    await Promise.all(
      [...pods.values()].map(async (pod) => {
        const [bin, ...argv] = commandLine(process.execPath, ['-e', POD_AGENT], pod.netns.path);
        const child = spawn(bin as string, argv, { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, PORTS: JSON.stringify(options.ports) } });
        agents.push(child);
        agentOf.set(pod.id, child);
        const ready = new Promise<void>((resolve, reject) => {
          child.once('exit', (code) => reject(new Error(`pod agent of ${pod.id} exited with ${code}`)));
          createInterface({ input: child.stdout! }).on('line', (line) => {
            const msg = JSON.parse(line) as { ready?: boolean; id?: number; ok?: boolean };
            if (msg.ready) resolve();
            else if (msg.id !== undefined) {
              waiting.get(msg.id)?.(msg.ok === true);
              waiting.delete(msg.id);
            }
          });
        });
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`pod agent of ${pod.id} not ready after 15 s`)), 15_000);
        });
        await Promise.race([ready, deadline]).finally(() => clearTimeout(timer));
      }),
    );
    if (options.sctp === true) {
      await Promise.all(
        [...pods.values()].map(async (pod) => {
          const [bin, ...argv] = commandLine('python3', ['-u', '-c', SCTP_AGENT], pod.netns.path);
          const child = spawn(bin as string, argv, { stdio: ['pipe', 'pipe', 'inherit'] });
          agents.push(child);
          sctpOf.set(pod.id, child);
          const waiting = new Map<string, () => void>();
          sctpWaiting.set(pod.id, waiting);
          const ready = new Promise<void>((resolve, reject) => {
            child.once('exit', (code) => reject(new Error(`SCTP agent of ${pod.id} exited with ${code}`)));
            createInterface({ input: child.stdout! }).on('line', (line) => {
              const msg = JSON.parse(line) as { ready?: boolean; src?: string; sport?: number; dport?: number };
              if (msg.ready) resolve();
              else {
                const key = `${msg.src}:${msg.sport}:${msg.dport}`;
                waiting.get(key)?.();
                waiting.delete(key);
              }
            });
          });
          let timer: NodeJS.Timeout | undefined;
          const deadline = new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`SCTP agent of ${pod.id} not ready after 15 s`)), 15_000);
          });
          await Promise.race([ready, deadline]).finally(() => clearTimeout(timer));
        }),
      );
    }
    return {
      node,
      pods,
      probe(from, address, protocol, port, timeoutMs) {
        const agent = agentOf.get(from);
        if (agent === undefined) throw new Error(`no pod ${from}`);
        const id = nextId++;
        return new Promise<boolean>((resolve) => {
          waiting.set(id, resolve);
          agent.stdin!.write(`${JSON.stringify({ id, proto: protocol, host: address, port, timeoutMs })}\n`);
        });
      },
      probeSctp(from, to, port, timeoutMs) {
        const sender = sctpOf.get(from);
        const src = pods.get(from);
        const dst = pods.get(to);
        const waiting = sctpWaiting.get(to);
        if (sender === undefined || src === undefined || dst === undefined || waiting === undefined) throw new Error(`no SCTP agents for ${from} -> ${to}`);
        const sport = nextSctpPort++;
        if (nextSctpPort > 60_000) nextSctpPort = 20_000;
        const key = `${src.address}:${sport}:${port}`;
        return new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => {
            waiting.delete(key);
            resolve(false);
          }, timeoutMs);
          waiting.set(key, () => {
            clearTimeout(timer);
            resolve(true);
          });
          sender.stdin!.write(`${JSON.stringify({ host: dst.address, port, sport })}\n`);
        });
      },
      cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Runs `tasks` with at most `limit` at a time, results in order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
