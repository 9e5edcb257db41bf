/**
 * BGP convergence and memory, tortie vs BIRD 2, same feed, same run.
 *
 * A GoBGP "feed" namespace holds N IPv4 /24s (default 100,000) in its global
 * RIB, loaded from a generated MRT TABLE_DUMP_V2 file (`gobgp mrt inject
 * global`). Then, one receiver at a time (so they never share the CPU):
 *   - tortie: bgp-speaker/test-fixtures/rib-speaker.ts (Session → Adj-RIB-In →
 *     Loc-RIB, no kernel programming) in its own namespace, connecting to the
 *     feed. Time = its `converged` timestamp − its `established` timestamp;
 *     memory = RSS and V8 heap after a GC at convergence minus the same at
 *     Established.
 *   - BIRD: `bird` with one BGP protocol (import all, no kernel protocol) in its
 *     own namespace. Time = from the first poll (every 20 ms) that sees the
 *     protocol Established to the first poll (every 50 ms) where `show route
 *     count` reaches N; memory = `show memory` Total at convergence minus at
 *     Established.
 * Both feeds are GoBGP eBGP sessions from the same RIB, so the bytes on the
 * wire are the same. Needs root (namespaces).
 *
 *     npx tsx bench/bgp-convergence.ts [--prefixes 100000]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { commandLine } from '../lib/kernel/exec.js';
import { startBird, type BirdInstance } from '../test/harness/bird.js';
import { startGobgp, type GobgpInstance } from '../test/harness/gobgp.js';
import { createNetnsHarness, kernelAccessProblem, pollUntil, uniqueName, type NetnsHarness } from '../test/harness/netns.js';

const program = new Command().option('--prefixes <n>', 'IPv4 /24s in the feed', '100000').parse();
const N = Number(program.opts<{ prefixes: string }>().prefixes);
const SPEAKER = fileURLToPath(new URL('../bgp-speaker/test-fixtures/rib-speaker.ts', import.meta.url));

const FEED_ASN = 65000;
const FEED_ORIGIN_ASN = 64999;
const OURS = { feed: '10.252.1.1', node: '10.252.1.2', asn: 64512 };
const BIRDS = { feed: '10.252.2.1', node: '10.252.2.2', asn: 64513 };

/** An MRT TABLE_DUMP_V2 file (RFC 6396): one peer, N /24s from 20.0.0.0 up, AS_PATH 64999, NEXT_HOP 0.0.0.0 (GoBGP then sends its own address; a given next hop would be kept, and BIRD withdraws routes whose next hop is off-link), then padding. */
function mrtFile(n: number): Buffer {
  const ip = (s: string) => Buffer.from(s.split('.').map(Number));
  const record = (subtype: number, body: Buffer) => {
    const h = Buffer.alloc(12);
    h.writeUInt32BE(Math.floor(Date.now() / 1000), 0);
    h.writeUInt16BE(13, 4); // TABLE_DUMP_V2
    h.writeUInt16BE(subtype, 6);
    h.writeUInt32BE(body.length, 8);
    return Buffer.concat([h, body]);
  };
  const peerAsn = Buffer.alloc(4);
  peerAsn.writeUInt32BE(FEED_ORIGIN_ASN);
  // PEER_INDEX_TABLE: collector id, empty view name, 1 peer (type 0x02: IPv4 address, 4-octet AS).
  const peerIndex = Buffer.concat([ip('192.0.2.99'), Buffer.from([0, 0, 0, 1, 0x02]), ip('192.0.2.99'), ip('192.0.2.99'), peerAsn]);
  const attrs = Buffer.concat([Buffer.from([0x40, 1, 1, 0]), Buffer.from([0x40, 2, 6, 2, 1]), peerAsn, Buffer.from([0x40, 3, 4]), ip('0.0.0.0')]);
  const parts: Buffer[] = [record(1, peerIndex)];
  // `gobgp mrt inject` (3.10) drops its last batch (a few hundred paths): pad with repeats of the first prefix.
  for (let k = 0; k < n + 5_000; k++) {
    const i = k < n ? k : 0;
    const base = (20 << 24) + i * 256;
    const body = Buffer.alloc(4 + 1 + 3 + 2 + 2 + 4 + 2);
    let o = body.writeUInt32BE(i, 0);
    o = body.writeUInt8(24, o);
    o = body.writeUInt8((base >>> 24) & 0xff, o);
    o = body.writeUInt8((base >>> 16) & 0xff, o);
    o = body.writeUInt8((base >>> 8) & 0xff, o);
    o = body.writeUInt16BE(1, o); // entry count
    o = body.writeUInt16BE(0, o); // peer index
    o = body.writeUInt32BE(Math.floor(Date.now() / 1000), o);
    body.writeUInt16BE(attrs.length, o);
    parts.push(record(2, Buffer.concat([body, attrs])));
  }
  return Buffer.concat(parts);
}

function feedConfig(): string {
  const neighbor = (address: string, asn: number) => `
[[neighbors]]
  [neighbors.config]
    neighbor-address = "${address}"
    peer-as = ${asn}
  [neighbors.transport.config]
    passive-mode = true
  [neighbors.timers.config]
    hold-time = 90
    keepalive-interval = 30
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
`;
  return `
[global.config]
  as = ${FEED_ASN}
  router-id = "${OURS.feed}"
${neighbor(OURS.node, OURS.asn)}${neighbor(BIRDS.node, BIRDS.asn)}`;
}

function birdConfig(): string {
  return `
router id ${BIRDS.node};
log stderr { warning, error, bug, fatal };
protocol device { scan time 10; }
protocol bgp feed {
  local ${BIRDS.node} as ${BIRDS.asn};
  neighbor ${BIRDS.feed} as ${FEED_ASN};
  connect delay time 1;
  ipv4 { import all; export none; };
}
`;
}

/** "12.3 MB" / "512 kB" / "100 B" → bytes. */
function parseSize(text: string): number {
  const m = /([\d.]+)\s*(B|kB|MB|GB)/.exec(text);
  if (m === null) throw new Error(`no size in ${JSON.stringify(text)}`);
  const unit = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[m[2] as 'B' | 'kB' | 'MB' | 'GB'];
  return Number(m[1]) * unit;
}

async function birdTotalMemory(b: BirdInstance): Promise<number> {
  const out = await b.birdc('show', 'memory');
  const line = out.split('\n').find((l) => l.trim().startsWith('Total:'));
  if (line === undefined) throw new Error(`no Total in show memory:\n${out}`);
  return parseSize(line.replace('Total:', ''));
}

async function birdRouteCount(b: BirdInstance): Promise<number> {
  const out = await b.birdc('show', 'route', 'count');
  const m = /(\d+) of (\d+) routes/.exec(out);
  if (m === null) throw new Error(`no count in ${JSON.stringify(out)}`);
  return Number(m[1]);
}

interface Result {
  seconds: number;
  memoryBytes: number;
  detail: string;
}

async function link(h: NetnsHarness, feedNs: Awaited<ReturnType<NetnsHarness['makeNetns']>>, addrs: { feed: string; node: string }, label: string) {
  const ns = await h.makeNetns(label);
  const a = uniqueName('f', 6);
  const b = uniqueName('r', 6);
  await h.makeVeth(a, b, { aNs: feedNs, bNs: ns });
  await h.hostIp.inNetns(feedNs).batch([`addr add ${addrs.feed}/30 dev ${a}`, `link set ${a} up`]);
  await h.hostIp.inNetns(ns).batch(['link set lo up', `addr add ${addrs.node}/30 dev ${b}`, `link set ${b} up`]);
  return ns;
}

async function runOurs(h: NetnsHarness, ns: Awaited<ReturnType<NetnsHarness['makeNetns']>>): Promise<Result> {
  const options = { localAddress: OURS.node, localAsn: OURS.asn, peerAddress: OURS.feed, peerAsn: FEED_ASN, announce: [], quiet: true, expectCount: N, holdTimeSec: 90 };
  const [bin, ...argv] = commandLine(process.execPath, ['--expose-gc', '--import', 'tsx', SPEAKER, JSON.stringify(options)], ns.path);
  const child = spawn(bin as string, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, number | string | boolean>[] = [];
  let text = '';
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    partial += chunk.toString();
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) if (l.trim() !== '') events.push(JSON.parse(l) as Record<string, number>);
  });
  child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
  try {
    const established = await pollUntil('tortie Established', async () => events.find((e) => e.type === 'established'), { timeoutMs: 30_000, intervalMs: 20 });
    const converged = await pollUntil(`tortie Loc-RIB at ${N}`, async () => events.find((e) => e.type === 'converged'), { timeoutMs: 30_000 + N / 100, intervalMs: 20 });
    const seconds = ((converged.at as number) - (established.at as number)) / 1000;
    const rss = (converged.rssBytes as number) - (established.rssBytes as number);
    const heap = (converged.heapUsedBytes as number) - (established.heapUsedBytes as number);
    return { seconds, memoryBytes: rss, detail: `RSS delta ${(rss / 2 ** 20).toFixed(1)} MiB, V8 heap delta ${(heap / 2 ** 20).toFixed(1)} MiB (${(heap / N).toFixed(0)} B/route)` };
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${text}\n${JSON.stringify(events.slice(-5))}`);
  } finally {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  }
}

async function runBird(h: NetnsHarness, ns: Awaited<ReturnType<NetnsHarness['makeNetns']>>): Promise<Result> {
  const b = await startBird(h, ns, birdConfig());
  try {
    await pollUntil('BIRD Established', async () => (await b.bgpState('feed')) === 'Established', { timeoutMs: 30_000, intervalMs: 20 });
    const t0 = performance.now();
    const before = await birdTotalMemory(b);
    await pollUntil(`BIRD table at ${N}`, async () => (await birdRouteCount(b)) >= N, { timeoutMs: 30_000 + N / 100, intervalMs: 50 }).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await b.birdc('show', 'protocols', 'all', 'feed')}\n${b.log()}`);
    });
    const seconds = (performance.now() - t0) / 1000;
    const after = await birdTotalMemory(b);
    return { seconds, memoryBytes: after - before, detail: `show memory Total ${(before / 2 ** 20).toFixed(1)} → ${(after / 2 ** 20).toFixed(1)} MiB` };
  } finally {
    await b.stop();
  }
}

async function main(): Promise<void> {
  const problem = await kernelAccessProblem();
  if (problem !== null) throw new Error(problem);
  const h = createNetnsHarness();
  const dir = await mkdtemp(join(tmpdir(), 'tt-bgpbench-'));
  let feed: GobgpInstance | null = null;
  const onSignal = () => void h.cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const feedNs = await h.makeNetns('feed');
    await h.hostIp.inNetns(feedNs).batch(['link set lo up']);
    const oursNs = await link(h, feedNs, OURS, 'ours');
    const birdNs = await link(h, feedNs, BIRDS, 'bird');
    feed = await startGobgp(h, feedNs, feedConfig());
    const mrt = join(dir, 'feed.mrt');
    await writeFile(mrt, mrtFile(N));
    const t = performance.now();
    await feed.gobgp('mrt', 'inject', 'global', mrt);
    const f = feed;
    await pollUntil(`GoBGP RIB at ${N}`, async () => (await f.ribCount()) >= N, { timeoutMs: 30_000 + N / 100, intervalMs: 200 });
    console.error(`feed loaded: ${N} prefixes in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    const ours = await runOurs(h, oursNs);
    console.error(`tortie: ${ours.seconds.toFixed(2)} s, ${ours.detail}`);
    const bird = await runBird(h, birdNs);
    console.error(`BIRD: ${bird.seconds.toFixed(2)} s, ${bird.detail}`);

    const perRoute = (r: Result) => r.memoryBytes / N;
    const rows = [
      `| receiver | time to hold ${N.toLocaleString('en')} prefixes (s) | memory delta (MiB) | bytes per route | how memory was read |`,
      '| --- | --- | --- | --- | --- |',
      `| tortie (Session + Adj-RIB-In + Loc-RIB) | ${ours.seconds.toFixed(2)} | ${(ours.memoryBytes / 2 ** 20).toFixed(1)} | ${perRoute(ours).toFixed(0)} | ${ours.detail} |`,
      `| BIRD ${await birdVersion()} | ${bird.seconds.toFixed(2)} | ${(bird.memoryBytes / 2 ** 20).toFixed(1)} | ${perRoute(bird).toFixed(0)} | ${bird.detail} |`,
      `| ratio tortie / BIRD | ${(ours.seconds / bird.seconds).toFixed(2)} | | ${(perRoute(ours) / perRoute(bird)).toFixed(2)} | goals: time ≤ 1.5, memory ≤ 2 |`,
    ];
    console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}, node ${process.version}`);
    console.log(`date: ${new Date().toISOString()}`);
    console.log(rows.join('\n'));
  } finally {
    await feed?.stop();
    await h.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
}

async function birdVersion(): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn('bird', ['--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (out += b.toString()));
    p.on('close', () => resolve(/[\d.]+/.exec(out)?.[0] ?? '?'));
  });
}

await main();
