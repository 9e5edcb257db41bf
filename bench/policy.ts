/**
 * The policy agent's benchmark (issue 5, "Benchmark"), in one run:
 *
 * (a) update latency: a Kubernetes NetworkPolicy written to a real etcd
 *     (test/harness/etcd.ts) until the transaction holding its rules has been
 *     committed by `nft` in a private network namespace. The live agent loop
 *     runs in this process (FelixLoop over EtcdDatastore and NftTable); its
 *     table is wrapped so the time is taken when `NftTable.apply()` returns
 *     for the first desired state that holds the policy's rule (`nft -j -f`
 *     has exited, so the rules are live). Population sizes: every pair of
 *     --policies x --endpoints; --local of the endpoints are on our node.
 * (b) closeness to the floor: a full resync as a restart does it (calculate
 *     + render + NftTable.apply on a fresh table object: plan a full replace
 *     without reading the kernel, `nft -j -f`), divided by `nft -j -f` alone
 *     on the same ruleset's full-replace JSON, in the same namespace,
 *     alternated.
 * (c) per-packet cost: two pods (test/integration/felix/pod-network.ts,
 *     wired as the CNI plugin wires them) behind a node namespace holding
 *     the ruleset: TCP connections per second (a Python connect/close loop,
 *     RST close so no TIME_WAIT) and throughput (iperf3), with no table, a
 *     table with 0 policies, 5,000 policies selecting neither pod, 5,000
 *     selecting the server (the last one by order allows the client; with a
 *     chain per policy a connection's first packet walked all of them; now
 *     they are one set lookup), and 5,000 selecting the server that each
 *     admit their own peer on their own port (a lookup set of 5,000 elements).
 *
 *     sudo npx tsx bench/policy.ts [--policies 100,1000,5000] [--endpoints 1000,10000]
 *        [--samples 15] [--heavy-samples 6] [--local 100] [--floor-reps 3]
 *        [--packet-seconds 5] [--packet-rounds 3] [--packet-policies 5000] [--skip-packets | --only-packets]
 *
 * (c) runs its rulesets in interleaved rounds (each round starting one
 * ruleset later) and reports medians, so the load of a shared machine falls
 * on all of them alike. Results: RESULTS.md.
 *
 * Needs root (network namespaces, nft) and iperf3 (Debian package) for (c).
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import { calculatePolicy } from '../felix/src/calc/calculate-policy.js';
import { snapshotFromResources, snapshotKinds, type ListedResources } from '../felix/src/calc/snapshot-from-resources.js';
import type { PolicySnapshot } from '../felix/src/calc/snapshot.js';
import { NftTable } from '../felix/src/dataplane/nft-table.js';
import { FelixLoop, type DataplaneTable } from '../felix/src/loop.js';
import { DEFAULT_FELIX_POLICY_CONFIG } from '../felix/src/model/config.js';
import type { WorkloadEndpointModel } from '../felix/src/model/endpoints.js';
import { fromK8sNetworkPolicy, type K8sNetworkPolicy } from '../felix/src/model/k8s-network-policy.js';
import { fromK8sNamespace } from '../felix/src/model/namespaces.js';
import type { NftObject } from '../felix/src/render/nft-json.js';
import { formatNftJson } from '../felix/src/render/nft-json.js';
import { renderFullReplace, renderRuleset } from '../felix/src/render/ruleset.js';
import { createEtcdDatastore, type EtcdDatastore } from '../lib/datastore/etcd.js';
import { Kinds } from '../lib/datastore/kinds.js';
import type { StoredObject } from '../lib/datastore/types.js';
import { startEtcd, type EtcdInstance } from '../test/harness/etcd.js';
import { mapLimit } from '../test/harness/pods.js';
import { PodNetwork } from '../test/integration/felix/pod-network.js';
import { endpointAddress, endpointObject, NAMESPACES, namespaceObject, NODE, nsName, policyObject } from './policy-population.js';

const program = new Command()
  .option('--policies <list>', 'policy counts', '100,1000,5000')
  .option('--endpoints <list>', 'endpoint counts', '1000,10000')
  .option('--samples <n>', 'latency samples per population', '15')
  .option('--heavy-samples <n>', 'latency samples when policies x endpoints >= 10M', '6')
  .option('--local <n>', 'endpoints on our node', '100')
  .option('--packet-seconds <n>', 'seconds per packet measurement', '5')
  .option('--floor-reps <n>', 'full-resync / nft-alone repetitions per population', '3')
  .option('--packet-policies <n>', 'policies installed for (c)', '5000')
  .option('--packet-rounds <n>', 'rounds over the (c) scenarios, interleaved (medians reported)', '3')
  .option('--skip-packets', 'skip (c)')
  .option('--only-packets', 'only (c)')
  .parse();
const opts = program.opts<{ policies: string; endpoints: string; samples: string; heavySamples: string; local: string; packetSeconds: string; floorReps: string; packetPolicies: string; packetRounds: string; skipPackets?: boolean; onlyPackets?: boolean }>();
const PACKET_ROUNDS = Number(opts.packetRounds);
const PACKET_POLICIES = Number(opts.packetPolicies);
const POLICY_COUNTS = opts.policies.split(',').map(Number);
const ENDPOINT_COUNTS = opts.endpoints.split(',').map(Number);
const LOCAL = Number(opts.local);
const PACKET_SECONDS = Number(opts.packetSeconds);
const FLOOR_REPS = Number(opts.floorReps);
const tag = randomBytes(3).toString('hex');

const log = (...parts: unknown[]) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...parts);
const ms = (t: number) => Math.round(t * 10) / 10;
function percentile(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
const median = (values: readonly number[]) => percentile(values, 50);

// ---- the table, timed ----

/** The loop's table, with the time each apply() returned for a desired state matching a predicate. */
class TimedTable implements DataplaneTable {
  private waiter: { test: (objects: readonly NftObject[]) => boolean; resolve: (t: number) => void } | null = null;
  private armed = false;
  appliedKinds: string[] = [];
  constructor(readonly inner: NftTable) {}
  setDesired(objects: readonly NftObject[]): void {
    this.inner.setDesired(objects);
    this.armed = this.waiter !== null && this.waiter.test(objects);
  }
  async apply() {
    const armed = this.armed;
    const r = await this.inner.apply();
    this.appliedKinds.push(r.kind);
    if (armed && this.waiter !== null) {
      const w = this.waiter;
      this.waiter = null;
      this.armed = false;
      w.resolve(performance.now());
    }
    return r;
  }
  retryDelayMs(): number {
    return this.inner.retryDelayMs();
  }
  resync(): void {
    this.inner.resync();
  }
  get ready(): boolean {
    return this.inner.ready;
  }
  /** Resolves with the time the first apply of a desired state passing `test` returned. */
  when(test: (objects: readonly NftObject[]) => boolean): Promise<number> {
    return new Promise((resolve) => {
      this.waiter = { test, resolve };
    });
  }
}

/** A NetworkPolicy for pod-0 (app-0 in bench-0) admitting a block of its own on a port of its own. */
function probePolicy(name: string, i: number): StoredObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace: 'bench-0' },
    spec: { podSelector: { matchLabels: { app: 'app-0' } }, ingress: [{ from: [{ ipBlock: { cidr: `10.200.${i % 256}.0/24` } }], ports: [{ port: 40000 + i, protocol: 'TCP' }] }] },
  };
}

async function withTimeout<T>(p: Promise<T>, msTimeout: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), msTimeout)))]);
  } finally {
    clearTimeout(timer);
  }
}

// ---- kernel helpers ----

async function sh(file: string, args: string[]): Promise<string> {
  const r = await execa(file, args, { reject: false });
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

// ---- (a) and (b) ----

interface PopulationResult {
  policies: number;
  endpoints: number;
  coldStartMs: number;
  samples: number[];
  snapshotMs: number;
  oursMs: number[];
  floorMs: number[];
  calcMs: number[];
  renderMs: number[];
  applyMs: number[];
  jsonBytes: number;
}

async function measurePopulation(datastore: EtcdDatastore, endpoint: string, netnsName: string, policies: number, endpoints: number, samples: number, workDir: string): Promise<PopulationResult> {
  const netnsPath = `/run/netns/${netnsName}`;
  // Cold start: a fresh loop (as a restart) lists everything, then applies the whole table once.
  const table = new TimedTable(new NftTable({ netns: netnsPath }));
  // The agent has its own client, as its own process would (closing its watches must not disturb the writer's).
  const agentDatastore = createEtcdDatastore({ endpoints: [endpoint] });
  const loop = new FelixLoop({ datastore: agentDatastore, nodeName: NODE, table, refreshMs: 0 });
  const t0 = performance.now();
  loop.start();
  await withTimeout(loop.whenIdle(), 600_000, 'cold start');
  const coldStartMs = performance.now() - t0;
  log(`  cold start ${ms(coldStartMs)} ms (${table.appliedKinds.join(',')})`);
  if (table.appliedKinds.length === 0) throw new Error('the loop applied nothing');

  const latencies: number[] = [];
  for (let i = 0; i < samples; i++) {
    const name = `probe-${tag}-${i}`;
    // Selects app-0 in bench-0, which always has a local pod (pod-0), so its rules are rendered on our node. Its
    // peer is a block no other policy names, so the pod's Kubernetes-stage lookup set holds it exactly while the
    // policy is live (the stage has no chain per policy to look for).
    const probe = probePolicy(name, i);
    const marker = `"10.200.${i % 256}.`;
    const holdsProbe = (objects: readonly NftObject[]) => objects.some((o) => ('set' in o || 'element' in o) && JSON.stringify(o).includes(marker));
    const live = table.when(holdsProbe);
    const start = performance.now();
    await datastore.create(Kinds.K8sNetworkPolicy, probe);
    latencies.push((await withTimeout(live, 120_000, `policy ${name} live`)) - start);
    const gone = table.when((objects) => !holdsProbe(objects));
    await datastore.delete(Kinds.K8sNetworkPolicy, name, 'bench-0');
    await withTimeout(gone, 120_000, `policy ${name} gone`);
    await loop.whenIdle();
  }
  await loop.stop();
  await agentDatastore.close();
  log(`  latency samples (ms): ${latencies.map(ms).join(' ')}`);

  // (b): ours (calculate + render + restart apply) against nft -j -f alone, alternated.
  const t1 = performance.now();
  const listed: ListedResources[] = [];
  for (const kind of snapshotKinds('etcdv3')) listed.push({ kind, items: (await datastore.list(kind)).items });
  const { snapshot } = snapshotFromResources('etcdv3', listed, NODE);
  const snapshotMs = performance.now() - t1;
  const ours: number[] = [];
  const floor: number[] = [];
  const calcMs: number[] = [];
  const renderMs: number[] = [];
  const applyMs: number[] = [];
  let jsonBytes = 0;
  const file = join(workDir, `full-${policies}-${endpoints}.json`);
  for (let r = 0; r < FLOOR_REPS; r++) {
    const a = performance.now();
    const desired = calculatePolicy(snapshot);
    const b = performance.now();
    const objects = renderRuleset(desired);
    const c = performance.now();
    const fresh = new NftTable({ netns: netnsPath });
    fresh.setDesired(objects);
    await fresh.apply();
    const d = performance.now();
    ours.push(d - a);
    calcMs.push(b - a);
    renderMs.push(c - b);
    applyMs.push(d - c);
    const json = formatNftJson(renderFullReplace(desired));
    jsonBytes = json.length;
    await writeFile(file, json);
    const e = performance.now();
    await sh('nsenter', [`--net=${netnsPath}`, '--', 'nft', '-j', '-f', file]);
    floor.push(performance.now() - e);
  }
  await rm(file, { force: true });
  log(`  full resync ours ${ours.map(ms).join(' ')} ms; nft alone ${floor.map(ms).join(' ')} ms`);
  return { policies, endpoints, coldStartMs, samples: latencies, snapshotMs, oursMs: ours, floorMs: floor, calcMs, renderMs, applyMs, jsonBytes };
}

/** Makes etcd hold exactly policies np-0..np-(p-1) and endpoints 0..(e-1) (plus the namespaces). */
async function setPopulation(datastore: EtcdDatastore, have: { policies: number; endpoints: number }, want: { policies: number; endpoints: number }): Promise<void> {
  const t = performance.now();
  const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
  await mapLimit(range(have.endpoints, want.endpoints), 32, (j) => datastore.create(Kinds.WorkloadEndpoint, endpointObject(j, LOCAL)));
  await mapLimit(range(want.endpoints, have.endpoints), 32, (j) => datastore.delete(Kinds.WorkloadEndpoint, endpointObject(j, LOCAL).metadata.name, nsName(j)));
  await mapLimit(range(have.policies, want.policies), 32, (k) => datastore.create(Kinds.K8sNetworkPolicy, policyObject(k)));
  await mapLimit(range(want.policies, have.policies), 32, (k) => datastore.delete(Kinds.K8sNetworkPolicy, `np-${k}`, nsName(k)));
  log(`population ${want.policies} policies / ${want.endpoints} endpoints written in ${ms(performance.now() - t)} ms`);
}

// ---- (c) ----

const CRR = `
import socket, struct, sys, time
mode = sys.argv[1]
if mode == "server":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(sys.argv[2]))); s.listen(4096)
    while True:
        c, _ = s.accept(); c.close()
else:
    addr, port, seconds, limit = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    n = 0; fail = 0; end = time.monotonic() + seconds
    linger = struct.pack("ii", 1, 0)
    while time.monotonic() < end and n < limit:
        c = socket.socket(); c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger); c.settimeout(1)
        try:
            c.connect((addr, port)); n += 1
        except OSError:
            fail += 1
        c.close()
    print(n, fail, seconds)
`;

interface PacketResult {
  scenario: string;
  /** Medians over the rounds. */
  connectionsPerSec: number;
  failed: number;
  gbitPerSec: number;
  cpsRuns: number[];
  gbpsRuns: number[];
}

async function measurePackets(workDir: string): Promise<PacketResult[]> {
  const id = `tb${tag}`;
  const node = `${id}n`;
  const net = new PodNetwork(node);
  const results: PacketResult[] = [];
  const servers: ReturnType<typeof execa>[] = [];
  const pods = [
    { key: 'client', addr: '10.250.0.1' },
    { key: 'server', addr: '10.250.0.2' },
  ];
  const ifname = (key: string) => `tor${id}${key[0]}`.slice(0, 15);
  try {
    await net.create();
    for (const p of pods) await net.addPod({ key: p.key, netns: `${id}${p.key[0]}`, hostIfName: ifname(p.key), address: p.addr });
    const serverNs = `${id}s`;
    const clientNs = `${id}c`;
    servers.push(execa('ip', ['netns', 'exec', serverNs, 'python3', '-c', CRR, 'server', '5001'], { reject: false }));
    servers.push(execa('ip', ['netns', 'exec', serverNs, 'iperf3', '-s', '-p', '5201'], { reject: false }));
    const deadline = Date.now() + 15_000;
    while (!(await net.connects('client', pods[1]!.addr, 'TCP', 5001))) {
      if (Date.now() > deadline) throw new Error('packet servers did not come up');
      await new Promise((r) => setTimeout(r, 100));
    }
    const podModels: WorkloadEndpointModel[] = pods.map((p) => ({
      namespace: 'perf',
      name: p.key,
      node: NODE,
      interfaceName: ifname(p.key),
      ipv4: [p.addr],
      ipv6: [],
      labels: { app: `perf-${p.key}` },
      serviceAccount: 'default',
      ports: [],
    }));
    const others: WorkloadEndpointModel[] = Array.from({ length: 1000 }, (_, j) => {
      const o = endpointObject(j + LOCAL, LOCAL) as unknown as { metadata: { labels: Record<string, string> }; spec: { node: string; pod: string; interfaceName: string } };
      return { namespace: nsName(j), name: o.spec.pod, node: o.spec.node, interfaceName: o.spec.interfaceName, ipv4: [endpointAddress(j + LOCAL)], ipv6: [], labels: o.metadata.labels, serviceAccount: 'default', ports: [] };
    });
    const namespaces = [...Array.from({ length: NAMESPACES }, (_, i) => fromK8sNamespace(namespaceObject(i) as never)!), fromK8sNamespace({ metadata: { name: 'perf' } })!];
    const model = (p: K8sNetworkPolicy) => {
      const r = fromK8sNetworkPolicy(p);
      if (!r.ok) throw new Error(r.error);
      return r.value;
    };
    const unrelated = Array.from({ length: PACKET_POLICIES }, (_, k) => model(policyObject(k)));
    const selecting = Array.from({ length: PACKET_POLICIES }, (_, k) =>
      model({
        metadata: { name: `sel-${String(k).padStart(4, '0')}`, namespace: 'perf' },
        spec: {
          podSelector: { matchLabels: { app: 'perf-server' } },
          ingress: [{ from: [{ podSelector: { matchLabels: { app: k === PACKET_POLICIES - 1 ? 'perf-client' : `nobody-${k}` } } }], ports: [{ port: 5001 }, { port: 5201 }] }],
        },
      } as K8sNetworkPolicy),
    );
    // As `selecting`, but each policy admits its own peer on its own port: the server's lookup set holds one element per policy.
    const selectingDistinct = Array.from({ length: PACKET_POLICIES }, (_, k) =>
      model({
        metadata: { name: `dis-${String(k).padStart(4, '0')}`, namespace: 'perf' },
        spec: {
          podSelector: { matchLabels: { app: 'perf-server' } },
          ingress:
            k === PACKET_POLICIES - 1
              ? [{ from: [{ podSelector: { matchLabels: { app: 'perf-client' } } }], ports: [{ port: 5001 }, { port: 5201 }] }]
              : [{ from: [{ ipBlock: { cidr: `10.251.${k >> 8}.${k & 255}/32` } }], ports: [{ port: 10000 + k }] }],
        },
      } as K8sNetworkPolicy),
    );
    const scenarios: { scenario: string; policies: PolicySnapshot['policies'] | null }[] = [
      { scenario: 'no table', policies: null },
      { scenario: '0 policies', policies: [] },
      { scenario: `${PACKET_POLICIES} policies, none selects the pods`, policies: unrelated },
      { scenario: `${PACKET_POLICIES} policies select the server (last one allows)`, policies: selecting },
      { scenario: `${PACKET_POLICIES} policies select the server, each its own peer and port`, policies: selectingDistinct },
    ];
    // Rendered once; then rounds over the scenarios, interleaved, so the machine's load falls on all alike; medians reported.
    const files = new Map<string, string | null>();
    for (const [i, s] of scenarios.entries()) {
      if (s.policies === null) {
        files.set(s.scenario, null);
        continue;
      }
      const snapshot: PolicySnapshot = { nodeName: NODE, endpoints: [...podModels, ...others], hostEndpoints: [], namespaces, serviceAccounts: [], policies: s.policies, networkSets: [], config: DEFAULT_FELIX_POLICY_CONFIG };
      const file = join(workDir, `packets-${i}.json`);
      await writeFile(file, formatNftJson(renderFullReplace(calculatePolicy(snapshot))));
      files.set(s.scenario, file);
    }
    const rounds = new Map<string, { cps: number[]; failed: number; gbps: number[] }>(scenarios.map((s) => [s.scenario, { cps: [], failed: 0, gbps: [] }]));
    for (let round = 0; round < PACKET_ROUNDS; round++) {
      // Each round starts one scenario later, so no scenario always follows the same one (a periodic load elsewhere
      // would otherwise fall on the same scenario every round).
      for (const s of scenarios.map((_, i) => scenarios[(i + round) % scenarios.length]!)) {
        const file = files.get(s.scenario)!;
        if (file === null) await execa('ip', ['netns', 'exec', node, 'nft', 'delete', 'table', 'inet', 'tortie'], { reject: false });
        else await sh('ip', ['netns', 'exec', node, 'nft', '-j', '-f', file]);
        const crr = await execa('ip', ['netns', 'exec', clientNs, 'python3', '-c', CRR, 'client', pods[1]!.addr, '5001', String(PACKET_SECONDS), '2000000'], { reject: false, timeout: (PACKET_SECONDS + 30) * 1000 });
        const [n, failed, seconds] = crr.stdout.trim().split(/\s+/).map(Number) as [number, number, number];
        const iperf = await execa('ip', ['netns', 'exec', clientNs, 'iperf3', '-c', pods[1]!.addr, '-p', '5201', '-t', String(PACKET_SECONDS), '-J'], { reject: false, timeout: (PACKET_SECONDS + 30) * 1000 });
        const bps = (JSON.parse(iperf.stdout) as { end?: { sum_received?: { bits_per_second?: number } } }).end?.sum_received?.bits_per_second ?? 0;
        const acc = rounds.get(s.scenario)!;
        acc.cps.push(n / seconds);
        acc.failed += failed;
        acc.gbps.push(bps / 1e9);
        log(`  round ${round + 1} ${s.scenario}: ${Math.round(n / seconds)} conn/s (${failed} failed), ${(bps / 1e9).toFixed(2)} Gbit/s`);
      }
    }
    for (const s of scenarios) {
      const acc = rounds.get(s.scenario)!;
      results.push({ scenario: s.scenario, connectionsPerSec: median(acc.cps), failed: acc.failed, gbitPerSec: median(acc.gbps), cpsRuns: acc.cps, gbpsRuns: acc.gbps });
    }
  } finally {
    for (const s of servers) if (s.pid !== undefined) process.kill(s.pid, 'SIGTERM');
    await Promise.allSettled(servers);
    await net.destroy();
  }
  return results;
}

// ---- main ----

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces, nft)');
  const started = performance.now();
  const workDir = await mkdtemp(join(tmpdir(), 'tortie-bench-policy-'));
  const netnsName = `tt-bp${tag}`;
  let etcd: EtcdInstance | undefined;
  let datastore: EtcdDatastore | undefined;
  const populations: PopulationResult[] = [];
  let packets: PacketResult[] = [];
  const load = [loadavg()[0]!];
  try {
    await sh('ip', ['netns', 'add', netnsName]);
    etcd = await startEtcd();
    datastore = createEtcdDatastore({ endpoints: [etcd.endpoint] });
    for (let i = 0; i < NAMESPACES; i++) await datastore.create(Kinds.K8sNamespace, namespaceObject(i));
    await datastore.create(Kinds.K8sNamespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'perf' } });

    // Up the policy counts over the fewest endpoints, then down again over the most: each step writes only the difference.
    const order: { policies: number; endpoints: number }[] = [];
    ENDPOINT_COUNTS.forEach((e, i) => {
      const ps = i % 2 === 0 ? POLICY_COUNTS : [...POLICY_COUNTS].reverse();
      for (const p of ps) order.push({ policies: p, endpoints: e });
    });
    let have = { policies: 0, endpoints: 0 };
    for (const want of opts.onlyPackets ? [] : order) {
      await setPopulation(datastore, have, want);
      have = want;
      const samples = want.policies * want.endpoints >= 10_000_000 ? Number(opts.heavySamples) : Number(opts.samples);
      log(`(a)+(b) ${want.policies} policies over ${want.endpoints} endpoints (${LOCAL} local), ${samples} samples`);
      populations.push(await measurePopulation(datastore, etcd.endpoint, netnsName, want.policies, want.endpoints, samples, workDir));
      load.push(loadavg()[0]!);
    }
    if (!opts.skipPackets) {
      log('(c) per-packet cost');
      packets = await measurePackets(workDir);
      load.push(loadavg()[0]!);
    }
  } finally {
    await datastore?.close();
    await etcd?.stop();
    await execa('ip', ['netns', 'del', netnsName], { reject: false });
    await rm(workDir, { recursive: true, force: true });
  }

  // ---- report (Markdown on stdout) ----
  const out: string[] = [];
  out.push(`machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB; Node ${process.version}; load average during the run ${Math.min(...load).toFixed(1)}-${Math.max(...load).toFixed(1)}; total ${Math.round((performance.now() - started) / 1000)} s`);
  if (populations.length > 0) {
  out.push('');
  out.push('(a) update latency, policy written to etcd → its rules committed by nft (ms)');
  out.push('');
  out.push('| policies | endpoints | samples | p50 | p99 | cold start (list + full apply) |');
  out.push('| --- | --- | --- | --- | --- | --- |');
  for (const p of populations) out.push(`| ${p.policies} | ${p.endpoints} | ${p.samples.length} | ${ms(median(p.samples))} | ${ms(percentile(p.samples, 99))} | ${ms(p.coldStartMs)} |`);
  out.push('');
  out.push('(b) full resync: ours (calculate + render + NftTable.apply on a fresh object) / `nft -j -f` alone, medians (ms)');
  out.push('');
  out.push('| policies | endpoints | JSON (MB) | calculate | render | apply (plan, nft) | ours | nft alone | ratio | (calculate + render + nft alone) / nft alone* |');
  out.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const p of populations) {
    out.push(`| ${p.policies} | ${p.endpoints} | ${(p.jsonBytes / 1e6).toFixed(1)} | ${ms(median(p.calcMs))} | ${ms(median(p.renderMs))} | ${ms(median(p.applyMs))} | ${ms(median(p.oursMs))} | ${ms(median(p.floorMs))} | ${(median(p.oursMs) / median(p.floorMs)).toFixed(2)} | ${((median(p.calcMs) + median(p.renderMs) + median(p.floorMs)) / median(p.floorMs)).toFixed(2)} |`);
  }
  out.push('');
  out.push('*derived, not measured: (calculate + render + nft alone) / nft alone, i.e. what our own computation adds to the one write.');
  }
  if (packets.length > 0) {
    const base = packets.find((p) => p.scenario === '0 policies')!;
    out.push('');
    out.push(`(c) per-packet cost between two pods, ${PACKET_ROUNDS} interleaved rounds of ${PACKET_SECONDS} s each, medians (loss against "0 policies"; every round in brackets)`);
    out.push('');
    // "paired": the median over rounds of 1 - scenario / "0 policies" of the same round. Both ran within a minute
    // of each other, so a load that moves over minutes cancels out better than in the ratio of the medians.
    out.push('| ruleset | TCP connections/s | loss | paired loss | throughput (Gbit/s) | loss | paired loss |');
    out.push('| --- | --- | --- | --- | --- | --- | --- |');
    const paired = (runs: number[], baseRuns: number[]) => median(runs.map((r, i) => (1 - r / baseRuns[i]!) * 100));
    for (const p of packets) {
      const lc = (1 - p.connectionsPerSec / base.connectionsPerSec) * 100;
      const lt = (1 - p.gbitPerSec / base.gbitPerSec) * 100;
      out.push(
        `| ${p.scenario} | ${Math.round(p.connectionsPerSec)} [${p.cpsRuns.map(Math.round).join(', ')}]${p.failed > 0 ? ` (${p.failed} failed)` : ''} | ${lc.toFixed(1)} % | ${paired(p.cpsRuns, base.cpsRuns).toFixed(1)} % | ${p.gbitPerSec.toFixed(2)} [${p.gbpsRuns.map((g) => g.toFixed(2)).join(', ')}] | ${lt.toFixed(1)} % | ${paired(p.gbpsRuns, base.gbpsRuns).toFixed(1)} % |`,
      );
    }
  }
  console.log(out.join('\n'));
}

await main();
