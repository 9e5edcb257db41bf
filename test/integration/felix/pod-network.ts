import { execa, type ResultPromise } from 'execa';

/**
 * Pods as network namespaces behind a "node" namespace, wired as the CNI
 * plugin wires them: a veth whose pod end is made in the pod's netns as eth0,
 * the address as /32, a default route via 169.254.1.1, a /32 route to the pod
 * on the host end. Neighbours are static instead of proxy ARP, to keep tests
 * deterministic. Everything made here is removed by `destroy()`, processes by
 * pid.
 */
export interface TestPod {
  readonly key: string;
  readonly netns: string;
  readonly hostIfName: string;
  readonly address: string;
}

export class PodNetwork {
  readonly pods = new Map<string, TestPod>();
  private readonly servers: ResultPromise[] = [];
  private readonly namespaces: string[] = [];

  constructor(readonly nodeNetns: string) {}

  async create(): Promise<void> {
    await ip(['netns', 'add', this.nodeNetns]);
    this.namespaces.push(this.nodeNetns);
    await ip(['netns', 'exec', this.nodeNetns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  }

  async addPod(pod: TestPod): Promise<void> {
    const { netns, hostIfName, address } = pod;
    await ip(['netns', 'add', netns]);
    this.namespaces.push(netns);
    await ip(['-n', this.nodeNetns, 'link', 'add', hostIfName, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    await ip(['-n', netns, 'link', 'set', 'lo', 'up']);
    await ip(['-n', netns, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', netns, 'addr', 'add', `${address}/32`, 'dev', 'eth0']);
    await ip(['-n', netns, 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link']);
    await ip(['-n', netns, 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0']);
    await ip(['-n', this.nodeNetns, 'link', 'set', hostIfName, 'up']);
    await ip(['-n', this.nodeNetns, 'route', 'add', `${address}/32`, 'dev', hostIfName]);
    await ip(['-n', netns, 'neigh', 'replace', '169.254.1.1', 'lladdr', await macOf(this.nodeNetns, hostIfName), 'dev', 'eth0', 'nud', 'permanent']);
    await ip(['-n', this.nodeNetns, 'neigh', 'replace', address, 'lladdr', await macOf(netns, 'eth0'), 'dev', hostIfName, 'nud', 'permanent']);
    this.pods.set(pod.key, pod);
  }

  /** A second address on a pod, routed back to it by the node: only anti-spoofing can stop it. */
  async addExtraAddress(podKey: string, address: string): Promise<void> {
    const pod = this.pods.get(podKey)!;
    await ip(['-n', pod.netns, 'addr', 'add', `${address}/32`, 'dev', 'eth0']);
    await ip(['-n', this.nodeNetns, 'route', 'add', `${address}/32`, 'dev', pod.hostIfName]);
    await ip(['-n', this.nodeNetns, 'neigh', 'replace', address, 'lladdr', await macOf(pod.netns, 'eth0'), 'dev', pod.hostIfName, 'nud', 'permanent']);
  }

  /** TCP: accept and close (socat). */
  serveTcp(podKey: string, port: number): void {
    const pod = this.pods.get(podKey)!;
    this.servers.push(execa('ip', ['netns', 'exec', pod.netns, 'socat', `TCP-LISTEN:${port},fork,reuseaddr`, 'EXEC:/bin/true'], { reject: false }));
  }

  /**
   * UDP: answer each datagram with "ok", on every port given, from one
   * process. (socat's UDP-RECVFROM with fork loses datagrams while it
   * re-binds after each fork: 2 in 30 even one at a time.)
   */
  serveUdp(podKey: string, ports: readonly number[]): void {
    const pod = this.pods.get(podKey)!;
    this.servers.push(execa('ip', ['netns', 'exec', pod.netns, 'python3', '-c', UDP_ECHO, ...ports.map(String)], { reject: false }));
  }

  /** Whether a connection (TCP) or an answered datagram (UDP) gets through within about a second. */
  async connects(from: string, toAddress: string, protocol: 'TCP' | 'UDP', port: number, bindAddress?: string): Promise<boolean> {
    const pod = this.pods.get(from)!;
    if (protocol === 'TCP') {
      const bind = bindAddress === undefined ? '' : `,bind=${bindAddress}`;
      const r = await execa('ip', ['netns', 'exec', pod.netns, 'socat', '-T1', '/dev/null', `TCP:${toAddress}:${port},connect-timeout=1${bind}`], {
        reject: false,
        timeout: 5000,
      });
      return r.exitCode === 0;
    }
    // -t: after stdin's EOF, keep reading the answer this long (the default 0.5 s is short under load).
    const r = await execa('ip', ['netns', 'exec', pod.netns, 'socat', '-t1.5', '-T1.5', '-', `UDP:${toAddress}:${port}`], { input: 'probe\n', reject: false, timeout: 5000 });
    return r.stdout.includes('ok');
  }

  async destroy(): Promise<void> {
    for (const s of this.servers) if (s.pid !== undefined) process.kill(s.pid, 'SIGTERM');
    await Promise.allSettled(this.servers);
    for (const ns of this.namespaces.reverse()) await execa('ip', ['netns', 'del', ns], { reject: false });
  }
}

const UDP_ECHO = `
import selectors, socket, sys
sel = selectors.DefaultSelector()
for port in sys.argv[1:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", int(port)))
    sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        data, peer = key.fileobj.recvfrom(2048)
        key.fileobj.sendto(b"ok\\n", peer)
`;

async function ip(args: string[]): Promise<void> {
  const r = await execa('ip', args, { reject: false });
  if (r.exitCode !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

async function macOf(netns: string, ifname: string): Promise<string> {
  const r = await execa('ip', ['-n', netns, '-j', 'link', 'show', ifname]);
  return (JSON.parse(r.stdout) as { address: string }[])[0]!.address;
}

/** Runs `task` over `items` with at most `limit` at a time (the machine has two shared cores). */
export async function mapLimit<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await task(items[i]!);
    }
  });
  await Promise.all(workers);
  return out;
}
