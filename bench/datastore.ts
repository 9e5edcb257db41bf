/**
 * Datastore overhead over the raw etcd3 client, side by side in one run
 * against one fresh etcd (test/harness/etcd.ts):
 *   - creates: `txn(create_revision == 0) then put`, one at a time
 *   - CAS updates: `txn(mod_revision == rv) then put else get`, one at a time
 *   - write → watch-event latency: a sequential CAS update, timed until a
 *     watcher on the kind's prefix receives it (p50 / p99)
 * "raw" is the etcd3 client used directly with the same transaction shape
 * and the same JSON payload (a real client serializes too); "ours" is
 * EtcdDatastore. Work alternates between the two in chunks so that etcd's
 * growth and the machine's noise fall on both alike.
 *
 *     npx tsx bench/datastore.ts [--creates 10000] [--updates 10000] [--latency 2000] [--chunk 500]
 *     npx tsx bench/datastore.ts --watch-cpu-only     # the watch path's CPU per event, etcd mocked
 */
import { Command } from 'commander';
import { Etcd3, type IKeyValue, type Watcher } from 'etcd3';
import { EventEmitter } from 'node:events';
import { cpus } from 'node:os';
import { createEtcdDatastore, etcdPrefixOf, type EtcdDatastore } from '../lib/datastore/etcd.js';
import { Kinds } from '../lib/datastore/kinds.js';
import type { StoredObject, WatchEvent } from '../lib/datastore/types.js';
import { startEtcd } from '../test/harness/etcd.js';

const program = new Command()
  .option('--creates <n>', 'objects created per side', '10000')
  .option('--updates <n>', 'CAS updates per side', '10000')
  .option('--latency <n>', 'write→watch samples per side', '2000')
  .option('--chunk <n>', 'operations per turn before switching sides', '500')
  .option('--watch-cpu-only', 'only measure the watch path\'s CPU per event with etcd mocked (no etcd, ~1 s)')
  .parse();
const opts = program.opts<{ creates: string; updates: string; latency: string; chunk: string; watchCpuOnly?: boolean }>();
const CREATES = Number(opts.creates);
const UPDATES = Number(opts.updates);
const LATENCY = Number(opts.latency);
const CHUNK = Number(opts.chunk);

const kind = Kinds.WorkloadEndpoint;
// Separate namespaces, so neither side's watcher sees the other's writes.
const RAW_NS = 'raw';
const OURS_NS = 'ours';

/** A WorkloadEndpoint of realistic size (~600 bytes of JSON). */
function endpoint(name: string, n: number, NS: string): StoredObject {
  return {
    apiVersion: kind.apiVersion,
    kind: kind.kind,
    metadata: {
      name,
      namespace: NS,
      labels: { app: 'web', 'tortie.dev/namespace': NS, 'tortie.dev/orchestrator': 'k8s', 'pod-template-hash': '5d8f7c9b6d' },
    },
    spec: {
      orchestrator: 'k8s',
      node: 'node1',
      pod: `web-5d8f7c9b6d-${name}`,
      endpoint: 'eth0',
      interfaceName: `tor${n.toString(16).padStart(11, '0')}`,
      mac: '5e:2c:1d:0a:00:01',
      ipNetworks: [`10.244.${(n >> 8) & 255}.${n & 255}/32`],
      profiles: [`kns.${NS}`, `ksa.${NS}.default`],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      generation: n,
    },
  };
}

function seconds(ns: bigint): number {
  return Number(ns) / 1e9;
}

function percentile(sortedMs: number[], p: number): number {
  if (sortedMs.length === 0) return NaN;
  const index = Math.min(sortedMs.length - 1, Math.ceil((p / 100) * sortedMs.length) - 1);
  return sortedMs[Math.max(0, index)] as number;
}

interface Side {
  create(i: number): Promise<void>;
  update(i: number): Promise<void>;
}

/** Runs `count` operations of each side alternately in chunks; returns total seconds per side. */
async function alternate(count: number, raw: (i: number) => Promise<void>, ours: (i: number) => Promise<void>): Promise<{ raw: number; ours: number }> {
  let rawNs = 0n;
  let oursNs = 0n;
  for (let start = 0; start < count; start += CHUNK) {
    const end = Math.min(count, start + CHUNK);
    const sides: Array<['raw' | 'ours', (i: number) => Promise<void>]> = [
      ['raw', raw],
      ['ours', ours],
    ];
    // Swap who goes first every chunk.
    if ((start / CHUNK) % 2 === 1) sides.reverse();
    for (const [name, run] of sides) {
      const t0 = process.hrtime.bigint();
      for (let i = start; i < end; i++) await run(i);
      const elapsed = process.hrtime.bigint() - t0;
      if (name === 'raw') rawNs += elapsed;
      else oursNs += elapsed;
    }
  }
  return { raw: seconds(rawNs), ours: seconds(oursNs) };
}

function rawSide(client: Etcd3): Side & { revisions: Map<string, string> } {
  const prefix = etcdPrefixOf(kind, RAW_NS);
  const revisions = new Map<string, string>();
  return {
    revisions,
    async create(i) {
      const name = `raw-${i}`;
      const key = `${prefix}${name}`;
      const value = JSON.stringify(endpoint(name, i, RAW_NS));
      const response = await client.if(key, 'Create', '==', 0).then(client.put(key).value(value)).commit();
      if (!response.succeeded) throw new Error(`raw create ${key} failed`);
      revisions.set(name, response.header.revision);
    },
    async update(i) {
      const name = `raw-${i % CREATES}`;
      const key = `${prefix}${name}`;
      const rv = revisions.get(name) as string;
      const value = JSON.stringify(endpoint(name, i, RAW_NS));
      const response = await client.if(key, 'Mod', '==', rv).then(client.put(key).value(value)).else(client.get(key)).commit();
      if (!response.succeeded) throw new Error(`raw update ${key} conflicted`);
      revisions.set(name, response.header.revision);
    },
  };
}

function oursSide(ds: EtcdDatastore): Side & { objects: Map<string, StoredObject> } {
  const objects = new Map<string, StoredObject>();
  return {
    objects,
    async create(i) {
      const name = `ours-${i}`;
      objects.set(name, await ds.create(kind, endpoint(name, i, OURS_NS)));
    },
    async update(i) {
      const name = `ours-${i % CREATES}`;
      const current = objects.get(name) as StoredObject;
      const next = endpoint(name, i, OURS_NS);
      objects.set(name, await ds.update(kind, { ...next, metadata: { ...current.metadata, labels: next.metadata.labels } }));
    },
  };
}

/**
 * Client-side CPU per operation with etcd taken out: both clients get the
 * etcd3 mock, which answers every call at once. What remains is our own work
 * (validation, uid, copying, JSON) against the raw builder's.
 */
async function clientCpuMicros(count: number): Promise<{ raw: { create: number; update: number }; ours: { create: number; update: number } }> {
  const mockedClient = (client: Etcd3): void => {
    let revision = 1;
    client.mock({
      exec: async () => ({ header: { revision: String(++revision) }, succeeded: true, responses: [] }) as never,
    });
  };
  const client = new Etcd3({ hosts: '127.0.0.1:1' });
  const ds = createEtcdDatastore({ endpoints: ['127.0.0.1:1'] });
  mockedClient(client);
  mockedClient(ds.client);
  const raw = rawSide(client);
  const ours = oursSide(ds);
  const time = async (run: (i: number) => Promise<void>): Promise<number> => {
    for (let i = 0; i < 1000; i++) await run(i); // warm-up
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < count; i++) await run(i);
    return Number(process.hrtime.bigint() - t0) / 1e3 / count;
  };
  const result = {
    raw: { create: await time((i) => raw.create(i)), update: 0 },
    ours: { create: await time((i) => ours.create(i)), update: 0 },
  };
  result.raw.update = await time((i) => raw.update(i));
  result.ours.update = await time((i) => ours.update(i));
  client.close();
  await ds.close();
  return result;
}

/**
 * The watch path's CPU per event with etcd taken out: a fake Watch stream
 * (through etcd3's mock) feeds Put events of the benchmark's object into an
 * EtcdDatastore watch with a label selector, read through its async
 * iterator. JSON.parse of the same values alone is the floor any consumer pays.
 */
async function watchCpuMicros(count: number): Promise<{ ours: number; parseOnly: number }> {
  const ds = createEtcdDatastore({ endpoints: ['127.0.0.1:1'] });
  const stream = Object.assign(new EventEmitter(), { writable: false, write() {}, cancel() {}, end() {} });
  ds.client.mock({
    exec: async () => ({ header: { revision: '1' }, kvs: [], more: false }) as never,
    withConnection: (async (_service: string, fn: (args: { resource: unknown; client: unknown; metadata: unknown }) => unknown) =>
      fn({ resource: {}, client: { watch: () => stream }, metadata: {} })) as never,
  });
  const prefix = etcdPrefixOf(kind, OURS_NS);
  const values = Array.from({ length: count }, (_, i) => Buffer.from(JSON.stringify(endpoint(`w${i % 1000}`, i, OURS_NS))));
  const response = (i: number): unknown => ({
    header: { revision: String(i + 2) },
    created: false,
    canceled: false,
    compact_revision: '0',
    events: [{ type: 'Put', kv: { key: Buffer.from(`${prefix}w${i % 1000}`), value: values[i], mod_revision: String(i + 2), create_revision: '2', version: '1', lease: '0' } }],
  });
  const watch = ds.watch(kind, { namespace: OURS_NS, labelSelector: 'app=web', from: { items: [], revision: '1' } });
  while (stream.listenerCount('data') === 0) await new Promise((r) => setImmediate(r));
  const iterator = watch[Symbol.asyncIterator]();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    stream.emit('data', response(i));
    await iterator.next();
  }
  const ours = Number(process.hrtime.bigint() - t0) / 1e3 / count;
  watch.close();
  await ds.close();
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) JSON.parse((values[i] as Buffer).toString('utf8'));
  const parseOnly = Number(process.hrtime.bigint() - t1) / 1e3 / count;
  return { ours, parseOnly };
}

async function main(): Promise<void> {
  if (opts.watchCpuOnly === true) {
    await watchCpuMicros(2000); // warm-up
    const { ours, parseOnly } = await watchCpuMicros(20_000);
    console.log(`watch path CPU per event (etcd mocked, 20000 events): EtcdDatastore ${ours.toFixed(1)} µs, JSON.parse alone ${parseOnly.toFixed(1)} µs`);
    return;
  }
  const started = new Date();
  const etcd = await startEtcd();
  const client = new Etcd3({ hosts: etcd.endpoint });
  const ds = createEtcdDatastore({ endpoints: [etcd.endpoint] });
  try {
    const raw = rawSide(client);
    const ours = oursSide(ds);

    // Warm-up: connections, JIT, etcd's first allocations (not counted).
    for (let i = 0; i < 200; i++) {
      await client.put(`/warmup/${i}`).value('x');
      await ds.get(kind, 'warmup', OURS_NS);
    }

    const creates = await alternate(CREATES, (i) => raw.create(i), (i) => ours.create(i));
    const updates = await alternate(UPDATES, (i) => raw.update(i), (i) => ours.update(i));

    // Write → watch event latency.
    const rawArrivals = new Map<string, bigint>();
    const rawWatcher: Watcher = client.watch().prefix(etcdPrefixOf(kind, RAW_NS)).watcher();
    rawWatcher.on('put', (kv: IKeyValue) => {
      // A direct client has to decode the value to use it, as ours does.
      JSON.parse(kv.value.toString('utf8'));
      rawArrivals.set(kv.mod_revision, process.hrtime.bigint());
    });
    await new Promise((resolve) => rawWatcher.once('connected', resolve));

    const oursArrivals = new Map<string, bigint>();
    const from = await ds.list(kind, { namespace: OURS_NS, labelSelector: 'app=web' });
    const watch = ds.watch(kind, { namespace: OURS_NS, labelSelector: 'app=web', from });
    const consumer = (async () => {
      for await (const event of watch as AsyncIterable<WatchEvent>) {
        if (event.type === 'modified') {
          oursArrivals.set(event.revision, process.hrtime.bigint());
        }
      }
    })();

    const waitFor = async (arrivals: Map<string, bigint>, revision: string): Promise<bigint> => {
      const deadline = Date.now() + 10_000;
      while (!arrivals.has(revision)) {
        if (Date.now() > deadline) throw new Error(`no watch event for revision ${revision}`);
        await new Promise((r) => setImmediate(r));
      }
      return arrivals.get(revision) as bigint;
    };
    const rawLatencyMs: number[] = [];
    const oursLatencyMs: number[] = [];
    await alternate(
      LATENCY,
      async (i) => {
        const t0 = process.hrtime.bigint();
        await raw.update(i);
        const arrived = await waitFor(rawArrivals, raw.revisions.get(`raw-${i % CREATES}`) as string);
        rawLatencyMs.push(Number(arrived - t0) / 1e6);
      },
      async (i) => {
        const t0 = process.hrtime.bigint();
        await ours.update(i);
        const stored = ours.objects.get(`ours-${i % CREATES}`) as StoredObject;
        const arrived = await waitFor(oursArrivals, stored.metadata.resourceVersion as string);
        oursLatencyMs.push(Number(arrived - t0) / 1e6);
      },
    );
    watch.close();
    await consumer;
    await rawWatcher.cancel();

    rawLatencyMs.sort((a, b) => a - b);
    oursLatencyMs.sort((a, b) => a - b);
    const rows: Array<[string, string, string, string, string]> = [
      ['operation', 'n per side', 'raw etcd3', 'tortie EtcdDatastore', 'ratio'],
      ['create (ops/s)', String(CREATES), (CREATES / creates.raw).toFixed(0), (CREATES / creates.ours).toFixed(0), (creates.ours / creates.raw).toFixed(3)],
      ['CAS update (ops/s)', String(UPDATES), (UPDATES / updates.raw).toFixed(0), (UPDATES / updates.ours).toFixed(0), (updates.ours / updates.raw).toFixed(3)],
    ];
    for (const p of [50, 99]) {
      const r = percentile(rawLatencyMs, p);
      const o = percentile(oursLatencyMs, p);
      rows.push([`write→watch p${p} (ms)`, String(LATENCY), r.toFixed(3), o.toFixed(3), (o / r).toFixed(3)]);
    }
    const cpu = await clientCpuMicros(Math.max(CREATES, 1000));
    rows.push(['client CPU, create (µs/op, etcd mocked)', String(Math.max(CREATES, 1000)), cpu.raw.create.toFixed(1), cpu.ours.create.toFixed(1), (cpu.ours.create / cpu.raw.create).toFixed(3)]);
    rows.push(['client CPU, CAS update (µs/op, etcd mocked)', String(Math.max(CREATES, 1000)), cpu.raw.update.toFixed(1), cpu.ours.update.toFixed(1), (cpu.ours.update / cpu.raw.update).toFixed(3)]);
    const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
    console.log(`datastore benchmark ${started.toISOString()} node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), etcd ${etcd.endpoint}`);
    console.log('ratio = ours time / raw time (lower is better; goal ≤ 1.2)\n');
    console.log(line(rows[0] as string[]));
    console.log(line(rows[0]?.map(() => '---') ?? []));
    for (const row of rows.slice(1)) console.log(line(row));
  } finally {
    await ds.close();
    client.close();
    await etcd.stop();
  }
}

await main();
