/**
 * One conformance suite for every Datastore backend (DESIGN.md "Datastore").
 * A backend's test file calls
 *
 *     describeDatastoreConformance('etcdv3', async () => ({ datastore, compact, interruptWatches, teardown }));
 *
 * and gets vitest `describe` blocks for CRUD, conflicts, lists by namespace
 * and label selector, watch ordering and resume, compaction/410 recovery and
 * racing writers. Objects are plain Kubernetes-shaped JSON of a cluster kind
 * (IPPool) and a namespaced kind (WorkloadEndpoint); nothing here depends on
 * crds/ schemas. Each test uses its own names, namespaces and labels, so one
 * backend instance serves the whole suite.
 *
 * Revisions are compared as integers where order matters (both real backends
 * hand out decimal revisions: etcd's, and Kubernetes' which come from etcd).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasErrorCode, type ErrorCode } from '../errors.js';
import { Kinds, type KindInfo } from './kinds.js';
import type { Datastore, ListResult, StoredObject, Watch, WatchEvent } from './types.js';

export interface ConformanceBackend {
  datastore: Datastore;
  /**
   * Optional: discard history now, so that a watch resuming from any earlier
   * revision must relist (etcd: compact at the current revision; a Kubernetes
   * API server: answer 410 Gone to older resourceVersions). Tests that need it
   * are skipped, saying so, when absent.
   */
  compact?: () => Promise<void>;
  /**
   * Optional: cut every open watch of `datastore` off the backend (their
   * connections drop and reconnecting fails), run `whileCut`, then let the
   * watches reconnect. `whileCut` gets a datastore that still reaches the
   * backend, to write with meanwhile. Tests that need it are skipped, saying
   * so, when absent.
   */
  interruptWatches?: (whileCut: (writer: Datastore) => Promise<void>) => Promise<void>;
  teardown: () => Promise<void>;
}

export type ConformanceSetup = () => Promise<ConformanceBackend>;

const CLUSTER_KIND: KindInfo = Kinds.IPPool;
const NAMESPACED_KIND: KindInfo = Kinds.WorkloadEndpoint;
const EVENT_TIMEOUT_MS = 15_000;

let counter = 0;
/** A name no other test (or earlier run against the same store) uses. */
function unique(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}-${Math.random().toString(36).slice(2, 6)}`;
}

function ipPool(name: string, labels: Record<string, string> = {}, cidr = '10.0.0.0/16'): StoredObject {
  return {
    apiVersion: CLUSTER_KIND.apiVersion,
    kind: CLUSTER_KIND.kind,
    metadata: { name, labels },
    spec: { cidr, blockSize: 26, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false },
  };
}

function endpoint(namespace: string, name: string, labels: Record<string, string> = {}, ip = '10.0.0.1/32'): StoredObject {
  return {
    apiVersion: NAMESPACED_KIND.apiVersion,
    kind: NAMESPACED_KIND.kind,
    metadata: { name, namespace, labels },
    spec: { node: 'node1', pod: name, interfaceName: 'tor0123456789a', ipNetworks: [ip] },
  };
}

function withSpec(object: StoredObject, spec: Record<string, unknown>): StoredObject {
  return { ...object, spec: { ...(object.spec as Record<string, unknown>), ...spec } };
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected a rejection with ${code}`).toBeDefined();
  expect(hasErrorCode(caught, code), `expected ${code}, got ${String((caught as { code?: unknown }).code)}: ${String(caught)}`).toBe(true);
}

function keyOf(object: StoredObject): string {
  return `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
}

function revisionOf(text: string | undefined): bigint {
  expect(text, 'a revision').toMatch(/^[0-9]+$/);
  return BigInt(text as string);
}

/**
 * What a consumer keeps: key → object, applied from events, strictly: `added`
 * only for what it lacks, `modified` and `deleted` only for what it has. A
 * backend that breaks this sends phantom or duplicate events.
 */
function applyEvents(state: Map<string, StoredObject>, events: readonly WatchEvent[]): Map<string, StoredObject> {
  for (const event of events) {
    if (event.type === 'synced' || event.type === 'resynced') continue;
    const key = keyOf(event.object);
    if (event.type === 'added') expect(state.has(key), `added ${key}, which the consumer already has`).toBe(false);
    else expect(state.has(key), `${event.type} ${key}, which the consumer does not have`).toBe(true);
    if (event.type === 'deleted') state.delete(key);
    else state.set(key, event.object);
  }
  return state;
}

function stateOf(items: readonly StoredObject[]): Map<string, StoredObject> {
  return new Map(items.map((o) => [keyOf(o), o]));
}

/** The comparable part of a consumer's state: key → resourceVersion and spec. */
function summary(state: Map<string, StoredObject>): Record<string, { resourceVersion: string | undefined; spec: unknown }> {
  return Object.fromEntries(
    [...state.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, o]) => [k, { resourceVersion: o.metadata.resourceVersion, spec: o.spec }]),
  );
}

/** Reads a watch with deadlines, so a missing event fails the test instead of hanging it. */
class EventReader {
  private readonly iterator: AsyncIterator<WatchEvent>;
  private pending: Promise<IteratorResult<WatchEvent>> | undefined;

  constructor(readonly watch: Watch) {
    this.iterator = watch[Symbol.asyncIterator]();
  }

  async next(timeoutMs = EVENT_TIMEOUT_MS): Promise<WatchEvent> {
    this.pending ??= this.iterator.next();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const result = await Promise.race([this.pending, timeout]);
    clearTimeout(timer);
    if (result === 'timeout') throw new Error(`no watch event within ${timeoutMs} ms`);
    this.pending = undefined;
    if (result.done === true) throw new Error('the watch ended');
    return result.value;
  }

  /** Events up to and including the first one `isLast` accepts. */
  async until(isLast: (event: WatchEvent) => boolean, timeoutMs = EVENT_TIMEOUT_MS): Promise<WatchEvent[]> {
    const events: WatchEvent[] = [];
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const event = await this.next(Math.max(1, deadline - Date.now()));
      events.push(event);
      if (isLast(event)) return events;
    }
  }

  async take(count: number, timeoutMs = EVENT_TIMEOUT_MS): Promise<WatchEvent[]> {
    const events: WatchEvent[] = [];
    const deadline = Date.now() + timeoutMs;
    while (events.length < count) events.push(await this.next(Math.max(1, deadline - Date.now())));
    return events;
  }

  close(): void {
    this.watch.close();
  }
}

/**
 * After a cut, a backend may answer ERR_DATASTORE_UNAVAILABLE ("retry later")
 * until its connection is back; reads are safe to repeat, so poll one.
 */
async function waitUntilReachable(ds: Datastore, timeoutMs = EVENT_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    try {
      await ds.get(CLUSTER_KIND, 'reachability-probe');
      return;
    } catch (err) {
      if (!hasErrorCode(err, 'ERR_DATASTORE_UNAVAILABLE') || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function isNamed(name: string): (event: WatchEvent) => boolean {
  return (event) => event.type !== 'synced' && event.type !== 'resynced' && event.object.metadata.name === name;
}

function brief(events: readonly WatchEvent[]): string[] {
  return events.map((e) => (e.type === 'synced' || e.type === 'resynced' ? e.type : `${e.type} ${e.object.metadata.name}`));
}

export function describeDatastoreConformance(name: string, setup: ConformanceSetup): void {
  describe(`datastore conformance: ${name}`, () => {
    let backend: ConformanceBackend;
    let ds: Datastore;
    const readers: EventReader[] = [];
    const open = (watch: Watch): EventReader => {
      const reader = new EventReader(watch);
      readers.push(reader);
      return reader;
    };

    beforeAll(async () => {
      backend = await setup();
      ds = backend.datastore;
    });
    afterAll(async () => {
      for (const reader of readers) reader.close();
      await backend?.teardown();
    });

    describe('CRUD', () => {
      it('create returns the stored object with a resourceVersion, uid and creationTimestamp', async () => {
        const pool = ipPool(unique('pool'));
        const created = await ds.create(CLUSTER_KIND, pool);
        expect(created.metadata.name).toBe(pool.metadata.name);
        expect(created.spec).toEqual(pool.spec);
        expect(created.metadata.resourceVersion).toMatch(/^[0-9]+$/);
        expect(created.metadata.uid).toBeTruthy();
        expect(created.metadata.creationTimestamp).toBeTruthy();
        const got = await ds.get(CLUSTER_KIND, pool.metadata.name);
        expect(got).toEqual(created);
      });

      it('get of a missing object returns null', async () => {
        expect(await ds.get(CLUSTER_KIND, unique('missing'))).toBeNull();
        expect(await ds.get(NAMESPACED_KIND, unique('missing'), unique('ns'))).toBeNull();
      });

      it('update with the current resourceVersion stores the change and keeps uid and creationTimestamp', async () => {
        const created = await ds.create(CLUSTER_KIND, ipPool(unique('pool')));
        const updated = await ds.update(CLUSTER_KIND, withSpec(created, { natOutgoing: true }));
        expect(updated.metadata.resourceVersion).not.toBe(created.metadata.resourceVersion);
        expect(revisionOf(updated.metadata.resourceVersion)).toBeGreaterThan(revisionOf(created.metadata.resourceVersion));
        expect(updated.metadata.uid).toBe(created.metadata.uid);
        expect(updated.metadata.creationTimestamp).toBe(created.metadata.creationTimestamp);
        const got = await ds.get(CLUSTER_KIND, created.metadata.name);
        expect(got).toEqual(updated);
        expect((got?.spec as { natOutgoing: boolean }).natOutgoing).toBe(true);
      });

      it('delete returns the object and it is gone afterwards', async () => {
        const created = await ds.create(CLUSTER_KIND, ipPool(unique('pool')));
        const deleted = await ds.delete(CLUSTER_KIND, created.metadata.name);
        expect(deleted.metadata.name).toBe(created.metadata.name);
        expect(deleted.spec).toEqual(created.spec);
        expect(deleted.metadata.uid).toBe(created.metadata.uid);
        expect(await ds.get(CLUSTER_KIND, created.metadata.name)).toBeNull();
      });

      it('a namespaced object lives in its namespace only', async () => {
        const [nsA, nsB] = [unique('ns-a'), unique('ns-b')];
        const wepName = unique('wep');
        const inA = await ds.create(NAMESPACED_KIND, endpoint(nsA, wepName, {}, '10.0.0.1/32'));
        const inB = await ds.create(NAMESPACED_KIND, endpoint(nsB, wepName, {}, '10.0.0.2/32'));
        expect(inA.metadata.namespace).toBe(nsA);
        expect(await ds.get(NAMESPACED_KIND, wepName, nsA)).toEqual(inA);
        expect(await ds.get(NAMESPACED_KIND, wepName, nsB)).toEqual(inB);
        expect(await ds.get(NAMESPACED_KIND, wepName, unique('ns-c'))).toBeNull();
        const updated = await ds.update(NAMESPACED_KIND, withSpec(inA, { node: 'node2' }));
        expect((updated.spec as { node: string }).node).toBe('node2');
        await ds.delete(NAMESPACED_KIND, wepName, nsA);
        expect(await ds.get(NAMESPACED_KIND, wepName, nsA)).toBeNull();
        expect(await ds.get(NAMESPACED_KIND, wepName, nsB)).toEqual(inB);
      });

      it('create of a name that exists fails with ERR_DATASTORE_ALREADY_EXISTS and changes nothing', async () => {
        const created = await ds.create(CLUSTER_KIND, ipPool(unique('pool')));
        await expectCode(ds.create(CLUSTER_KIND, ipPool(created.metadata.name, {}, '10.9.0.0/16')), 'ERR_DATASTORE_ALREADY_EXISTS');
        expect(await ds.get(CLUSTER_KIND, created.metadata.name)).toEqual(created);
        const ns = unique('ns');
        const wep = await ds.create(NAMESPACED_KIND, endpoint(ns, unique('wep')));
        await expectCode(ds.create(NAMESPACED_KIND, endpoint(ns, wep.metadata.name)), 'ERR_DATASTORE_ALREADY_EXISTS');
      });

      it('update with a stale resourceVersion fails with ERR_DATASTORE_CONFLICT and changes nothing', async () => {
        const created = await ds.create(CLUSTER_KIND, ipPool(unique('pool')));
        const updated = await ds.update(CLUSTER_KIND, withSpec(created, { blockSize: 27 }));
        await expectCode(ds.update(CLUSTER_KIND, withSpec(created, { blockSize: 28 })), 'ERR_DATASTORE_CONFLICT');
        expect(await ds.get(CLUSTER_KIND, created.metadata.name)).toEqual(updated);
      });

      it('update of an object that was deleted fails with ERR_DATASTORE_NOT_FOUND', async () => {
        const created = await ds.create(CLUSTER_KIND, ipPool(unique('pool')));
        await ds.delete(CLUSTER_KIND, created.metadata.name);
        await expectCode(ds.update(CLUSTER_KIND, withSpec(created, { blockSize: 27 })), 'ERR_DATASTORE_NOT_FOUND');
        expect(await ds.get(CLUSTER_KIND, created.metadata.name)).toBeNull();
      });

      it('delete of a missing object fails with ERR_DATASTORE_NOT_FOUND', async () => {
        await expectCode(ds.delete(CLUSTER_KIND, unique('missing')), 'ERR_DATASTORE_NOT_FOUND');
        await expectCode(ds.delete(NAMESPACED_KIND, unique('missing'), unique('ns')), 'ERR_DATASTORE_NOT_FOUND');
      });

      it('delete with a stale resourceVersion fails with ERR_DATASTORE_CONFLICT and keeps the object', async () => {
        const created = await ds.create(CLUSTER_KIND, ipPool(unique('pool')));
        const updated = await ds.update(CLUSTER_KIND, withSpec(created, { blockSize: 27 }));
        await expectCode(
          ds.delete(CLUSTER_KIND, created.metadata.name, undefined, { resourceVersion: created.metadata.resourceVersion }),
          'ERR_DATASTORE_CONFLICT',
        );
        expect(await ds.get(CLUSTER_KIND, created.metadata.name)).toEqual(updated);
        const deleted = await ds.delete(CLUSTER_KIND, created.metadata.name, undefined, {
          resourceVersion: updated.metadata.resourceVersion,
        });
        expect(deleted.metadata.uid).toBe(created.metadata.uid);
        expect(await ds.get(CLUSTER_KIND, created.metadata.name)).toBeNull();
      });
    });

    describe('list', () => {
      it('lists by namespace, and across all namespaces without one', async () => {
        const [nsA, nsB] = [unique('ns-a'), unique('ns-b')];
        const run = unique('run');
        for (const n of ['w1', 'w2', 'w3']) await ds.create(NAMESPACED_KIND, endpoint(nsA, n, { run }));
        await ds.create(NAMESPACED_KIND, endpoint(nsB, 'w1', { run }));
        const inA = await ds.list(NAMESPACED_KIND, { namespace: nsA });
        expect(inA.items.map(keyOf).sort()).toEqual([`${nsA}/w1`, `${nsA}/w2`, `${nsA}/w3`]);
        expect(inA.revision).toMatch(/^[0-9]+$/);
        const everywhere = await ds.list(NAMESPACED_KIND, { labelSelector: `run=${run}` });
        expect(everywhere.items.map(keyOf).sort()).toEqual([`${nsA}/w1`, `${nsA}/w2`, `${nsA}/w3`, `${nsB}/w1`]);
        expect((await ds.list(NAMESPACED_KIND, { namespace: unique('empty') })).items).toEqual([]);
      });

      it('lists by label selector: equality, inequality, set and existence', async () => {
        const run = unique('run');
        const names = { web: unique('web'), db: unique('db'), legacy: unique('legacy') };
        await ds.create(CLUSTER_KIND, ipPool(names.web, { run, tier: 'web' }));
        await ds.create(CLUSTER_KIND, ipPool(names.db, { run, tier: 'db' }));
        await ds.create(CLUSTER_KIND, ipPool(names.legacy, { run, tier: 'web', legacy: 'true' }));
        const select = async (selector: string): Promise<string[]> =>
          (await ds.list(CLUSTER_KIND, { labelSelector: `run=${run},${selector}` })).items.map((o) => o.metadata.name).sort();
        expect(await select('tier=web')).toEqual([names.legacy, names.web].sort());
        expect(await select('tier!=web')).toEqual([names.db]);
        expect(await select('tier in (db,cache)')).toEqual([names.db]);
        expect(await select('tier notin (db)')).toEqual([names.legacy, names.web].sort());
        expect(await select('legacy')).toEqual([names.legacy]);
        expect(await select('!legacy')).toEqual([names.db, names.web].sort());
        expect(await select('tier=none')).toEqual([]);
      });

      it('the items of a list carry resourceVersions no newer than the list revision', async () => {
        const run = unique('run');
        const created = await ds.create(CLUSTER_KIND, ipPool(unique('pool'), { run }));
        const listed = await ds.list(CLUSTER_KIND, { labelSelector: `run=${run}` });
        expect(listed.items).toEqual([created]);
        expect(revisionOf(listed.revision)).toBeGreaterThanOrEqual(revisionOf(created.metadata.resourceVersion));
      });
    });

    describe('watch', () => {
      it('without from, delivers every existing object as added, then synced, then later changes', async () => {
        const ns = unique('ns');
        const existing = [await ds.create(NAMESPACED_KIND, endpoint(ns, 'a')), await ds.create(NAMESPACED_KIND, endpoint(ns, 'b'))];
        const reader = open(ds.watch(NAMESPACED_KIND, { namespace: ns }));
        const initial = await reader.until((e) => e.type === 'synced');
        expect(initial.slice(0, -1).map((e) => e.type)).toEqual(['added', 'added']);
        expect(summary(applyEvents(new Map(), initial))).toEqual(summary(stateOf(existing)));
        const synced = initial.at(-1) as WatchEvent;
        const c = await ds.create(NAMESPACED_KIND, endpoint(ns, 'c'));
        const [event] = await reader.take(1);
        expect(event).toEqual({ type: 'added', object: c, revision: c.metadata.resourceVersion });
        expect(revisionOf(event?.revision)).toBeGreaterThan(revisionOf(synced.revision));
        reader.close();
      });

      it('delivers many writes in order, each once, with increasing revisions', async () => {
        const ns = unique('ns');
        const from = await ds.list(NAMESPACED_KIND, { namespace: ns });
        const reader = open(ds.watch(NAMESPACED_KIND, { namespace: ns, from }));
        const expected: string[] = [];
        const writes: Promise<void>[] = [];
        // Writes to different keys go out concurrently; each key's own writes are sequential.
        for (let k = 0; k < 10; k++) {
          writes.push(
            (async () => {
              let object = await ds.create(NAMESPACED_KIND, endpoint(ns, `w${k}`));
              expected.push(`added w${k}@${object.metadata.resourceVersion}`);
              for (let i = 0; i < 3; i++) {
                object = await ds.update(NAMESPACED_KIND, withSpec(object, { node: `node${i}` }));
                expected.push(`modified w${k}@${object.metadata.resourceVersion}`);
              }
              if (k % 2 === 0) {
                await ds.delete(NAMESPACED_KIND, object.metadata.name, ns);
                expected.push(`deleted w${k}`);
              }
            })(),
          );
        }
        await Promise.all(writes);
        const events = await reader.take(expected.length);
        const revisions = events.map((e) => revisionOf(e.revision));
        for (let i = 1; i < revisions.length; i++) expect(revisions[i]).toBeGreaterThan(revisions[i - 1] as bigint);
        for (const event of events) {
          if (event.type === 'added' || event.type === 'modified') expect(event.revision).toBe(event.object.metadata.resourceVersion);
        }
        const seen = events.map((e) =>
          e.type === 'deleted' ? `deleted ${e.object.metadata.name}` : e.type === 'synced' || e.type === 'resynced' ? e.type : `${e.type} ${e.object.metadata.name}@${e.revision}`,
        );
        expect([...seen].sort()).toEqual([...expected].sort());
        // Each key's events come in the order of its writes.
        for (let k = 0; k < 10; k++) {
          const mine = (list: string[]): string[] => list.filter((s) => s.split(' ')[1]?.split('@')[0] === `w${k}`);
          expect(mine(seen)).toEqual(mine(expected));
        }
        // Nothing more: the next event is the next write.
        const sentinel = await ds.create(NAMESPACED_KIND, endpoint(ns, 'sentinel'));
        expect(await reader.next()).toMatchObject({ type: 'added', object: { metadata: { name: 'sentinel' } }, revision: sentinel.metadata.resourceVersion });
        reader.close();
      });

      it('resumes from a list revision: no change missed, none repeated', async () => {
        const ns = unique('ns');
        const first = await ds.list(NAMESPACED_KIND, { namespace: ns });
        const early: StoredObject[] = [];
        for (let i = 0; i < 5; i++) early.push(await ds.create(NAMESPACED_KIND, endpoint(ns, `early${i}`)));
        const second = await ds.list(NAMESPACED_KIND, { namespace: ns });
        expect(summary(stateOf(second.items))).toEqual(summary(stateOf(early)));
        const late: StoredObject[] = [];
        for (let i = 0; i < 5; i++) late.push(await ds.create(NAMESPACED_KIND, endpoint(ns, `late${i}`)));
        late.push(await ds.update(NAMESPACED_KIND, withSpec(early[0] as StoredObject, { node: 'elsewhere' })));

        const fromSecond = open(ds.watch(NAMESPACED_KIND, { namespace: ns, from: second }));
        const fromFirst = open(ds.watch(NAMESPACED_KIND, { namespace: ns, from: first }));
        const sentinel = await ds.create(NAMESPACED_KIND, endpoint(ns, 'sentinel'));

        const afterSecond = await fromSecond.until(isNamed('sentinel'));
        expect(brief(afterSecond)).toEqual([...late.map((o) => `${o === late.at(-1) ? 'modified' : 'added'} ${o.metadata.name}`), 'added sentinel']);
        const afterFirst = await fromFirst.until(isNamed('sentinel'));
        expect(brief(afterFirst)).toEqual([
          ...early.map((o) => `added ${o.metadata.name}`),
          ...late.map((o) => `${o === late.at(-1) ? 'modified' : 'added'} ${o.metadata.name}`),
          'added sentinel',
        ]);
        const consumer = applyEvents(stateOf(second.items), afterSecond);
        expect(summary(consumer)).toEqual(summary(stateOf((await ds.list(NAMESPACED_KIND, { namespace: ns })).items)));
        expect(afterSecond.at(-1)?.revision).toBe(sentinel.metadata.resourceVersion);
        fromSecond.close();
        fromFirst.close();
      });

      it('a label-selected watch reports an object that stops matching as deleted and one that starts matching as added', async () => {
        const run = unique('run');
        const from = await ds.list(CLUSTER_KIND, { labelSelector: `run=${run},tier=web` });
        const reader = open(ds.watch(CLUSTER_KIND, { labelSelector: `run=${run},tier=web`, from }));
        const pool = await ds.create(CLUSTER_KIND, ipPool(unique('pool'), { run, tier: 'db' }));
        const moved = await ds.update(CLUSTER_KIND, { ...pool, metadata: { ...pool.metadata, labels: { run, tier: 'web' } } });
        const changed = await ds.update(CLUSTER_KIND, withSpec(moved, { blockSize: 28 }));
        const left = await ds.update(CLUSTER_KIND, { ...changed, metadata: { ...changed.metadata, labels: { run, tier: 'db' } } });
        await ds.update(CLUSTER_KIND, withSpec(left, { blockSize: 29 }));
        const sentinel = unique('sentinel');
        await ds.create(CLUSTER_KIND, ipPool(sentinel, { run, tier: 'web' }));
        const events = await reader.until(isNamed(sentinel));
        expect(brief(events)).toEqual([`added ${pool.metadata.name}`, `modified ${pool.metadata.name}`, `deleted ${pool.metadata.name}`, `added ${sentinel}`]);
        reader.close();
      });

      it('a namespace watch sees nothing of other namespaces', async () => {
        const [ns, other] = [unique('ns'), unique('other')];
        const reader = open(ds.watch(NAMESPACED_KIND, { namespace: ns }));
        expect((await reader.next()).type).toBe('synced');
        await ds.create(NAMESPACED_KIND, endpoint(other, 'x'));
        await ds.create(NAMESPACED_KIND, endpoint(ns, 'y'));
        expect(brief(await reader.take(1))).toEqual(['added y']);
        reader.close();
      });

      it('close ends the iteration', async () => {
        const watch = ds.watch(CLUSTER_KIND, { labelSelector: `run=${unique('run')}` });
        const iterator = watch[Symbol.asyncIterator]();
        expect((await iterator.next()).value?.type).toBe('synced');
        const pending = iterator.next();
        watch.close();
        expect((await pending).done).toBe(true);
      });
    });

    describe('lost place (compaction, 410 Gone, cut connections)', () => {
      /** Writes against `writer` that touch every case of a diff: add, modify, delete, delete-and-recreate, untouched. */
      async function prepare(ns: string): Promise<{ from: ListResult; untouched: StoredObject; changes: (writer: Datastore) => Promise<void> }> {
        const untouched = await ds.create(NAMESPACED_KIND, endpoint(ns, 'untouched'));
        const modified = await ds.create(NAMESPACED_KIND, endpoint(ns, 'modified'));
        const removed = await ds.create(NAMESPACED_KIND, endpoint(ns, 'removed'));
        const recreated = await ds.create(NAMESPACED_KIND, endpoint(ns, 'recreated'));
        const from = await ds.list(NAMESPACED_KIND, { namespace: ns });
        const changes = async (writer: Datastore): Promise<void> => {
          await writer.create(NAMESPACED_KIND, endpoint(ns, 'added'));
          let m = modified;
          for (let i = 0; i < 3; i++) m = await writer.update(NAMESPACED_KIND, withSpec(m, { node: `node${i}` }));
          await writer.delete(NAMESPACED_KIND, removed.metadata.name, ns);
          await writer.delete(NAMESPACED_KIND, recreated.metadata.name, ns);
          await writer.create(NAMESPACED_KIND, endpoint(ns, 'recreated', {}, '10.0.0.9/32'));
          const transient = await writer.create(NAMESPACED_KIND, endpoint(ns, 'transient'));
          await writer.delete(NAMESPACED_KIND, transient.metadata.name, ns);
        };
        return { from, untouched, changes };
      }

      async function expectConsumerMatchesFreshList(ns: string, from: ListResult, events: readonly WatchEvent[]): Promise<void> {
        const consumer = applyEvents(stateOf(from.items), events);
        const fresh = await ds.list(NAMESPACED_KIND, { namespace: ns });
        expect(summary(consumer)).toEqual(summary(stateOf(fresh.items)));
      }

      it('a watch from a compacted revision relists and delivers exactly the difference, then resynced', async (ctx) => {
        const compact = backend.compact;
        if (compact === undefined) return ctx.skip(`${name} has no compact hook: cannot expire history on demand`);
        const ns = unique('ns');
        const { from, untouched, changes } = await prepare(ns);
        await changes(ds);
        await compact();
        const reader = open(ds.watch(NAMESPACED_KIND, { namespace: ns, from }));
        const events = await reader.until((e) => e.type === 'resynced');
        await expectConsumerMatchesFreshList(ns, from, events);
        const names = brief(events);
        // The difference, not a replay and not a full relist: nothing about the untouched object,
        // nothing about the object that came and went while the consumer was away.
        expect(names).not.toContain(`added ${untouched.metadata.name}`);
        expect(names).not.toContain(`modified ${untouched.metadata.name}`);
        expect(names.filter((n) => n.endsWith(' transient'))).toEqual([]);
        expect(names).toContain('added added');
        expect(names).toContain('deleted removed');
        expect(names.filter((n) => n.endsWith(' modified'))).toHaveLength(1);
        expect(names.at(-1)).toBe('resynced');
        // And it watches on from there.
        const after = await ds.create(NAMESPACED_KIND, endpoint(ns, 'after'));
        expect(await reader.next()).toMatchObject({ type: 'added', revision: after.metadata.resourceVersion });
        reader.close();
      });

      it('a live watch that is cut off resumes where it stopped: no change missed, none repeated', async (ctx) => {
        const interrupt = backend.interruptWatches;
        if (interrupt === undefined) return ctx.skip(`${name} has no interruptWatches hook: cannot cut watch connections`);
        const ns = unique('ns');
        const { from, changes } = await prepare(ns);
        const reader = open(ds.watch(NAMESPACED_KIND, { namespace: ns, from }));
        const before = await ds.create(NAMESPACED_KIND, endpoint(ns, 'before'));
        expect(await reader.next()).toMatchObject({ type: 'added', revision: before.metadata.resourceVersion });
        await interrupt(changes);
        await waitUntilReachable(ds);
        const sentinel = await ds.create(NAMESPACED_KIND, endpoint(ns, 'sentinel'));
        const events = await reader.until(isNamed('sentinel'));
        expect(brief(events)).toEqual([
          'added added',
          'modified modified',
          'modified modified',
          'modified modified',
          'deleted removed',
          'deleted recreated',
          'added recreated',
          'added transient',
          'deleted transient',
          'added sentinel',
        ]);
        expect(events.at(-1)?.revision).toBe(sentinel.metadata.resourceVersion);
        await expectConsumerMatchesFreshList(ns, from, [{ type: 'added', object: before, revision: before.metadata.resourceVersion as string }, ...events]);
        reader.close();
      });

      it('a live watch cut off while history is compacted resyncs to the state of a fresh list', async (ctx) => {
        const interrupt = backend.interruptWatches;
        const compact = backend.compact;
        if (interrupt === undefined || compact === undefined) {
          return ctx.skip(`${name} lacks the interruptWatches or compact hook: cannot expire a live watch's history`);
        }
        const ns = unique('ns');
        const { from, untouched, changes } = await prepare(ns);
        const reader = open(ds.watch(NAMESPACED_KIND, { namespace: ns, from }));
        const before = await ds.create(NAMESPACED_KIND, endpoint(ns, 'before'));
        const seen = [await reader.next()];
        expect(seen[0]).toMatchObject({ type: 'added', revision: before.metadata.resourceVersion });
        await interrupt(async (writer) => {
          await changes(writer);
          await compact();
        });
        await waitUntilReachable(ds);
        const events = await reader.until((e) => e.type === 'resynced');
        await expectConsumerMatchesFreshList(ns, from, [...seen, ...events]);
        expect(brief(events).filter((n) => n.endsWith(` ${untouched.metadata.name}`) || n.endsWith(' before'))).toEqual([]);
        const after = await ds.create(NAMESPACED_KIND, endpoint(ns, 'after'));
        expect(await reader.next()).toMatchObject({ type: 'added', revision: after.metadata.resourceVersion });
        reader.close();
      });
    });

    describe('random histories', () => {
      type Op = { op: 'create' | 'update' | 'delete'; name: number };
      interface Segment {
        ops: Op[];
        /** Run this segment's writes while the watch is cut off (needs interruptWatches). */
        isCut: boolean;
        /** Compact after this segment's writes (needs compact). */
        compactAfter: boolean;
      }
      const segmentArb: fc.Arbitrary<Segment> = fc.record({
        ops: fc.array(fc.record({ op: fc.constantFrom('create' as const, 'update' as const, 'delete' as const), name: fc.nat(3) }), {
          maxLength: 6,
        }),
        isCut: fc.boolean(),
        compactAfter: fc.boolean(),
      });

      it('whatever the writes, cuts and compactions, a strict consumer ends equal to a fresh list', async () => {
        let run = 0;
        await fc.assert(
          fc.asyncProperty(fc.array(segmentArb, { minLength: 1, maxLength: 4 }), async (segments) => {
            run += 1;
            const ns = unique(`history-${run}`);
            const from = await ds.list(NAMESPACED_KIND, { namespace: ns });
            const reader = open(ds.watch(NAMESPACED_KIND, { namespace: ns, from }));
            const consumer = stateOf(from.items);
            const stored = new Map<number, StoredObject>();
            let version = 0;
            const runOps = async (writer: Datastore, ops: readonly Op[]): Promise<void> => {
              for (const { op, name: n } of ops) {
                version += 1;
                const current = stored.get(n);
                if (op === 'create' && current === undefined) {
                  stored.set(n, await writer.create(NAMESPACED_KIND, endpoint(ns, `w${n}`, {}, `10.0.0.${version % 250}/32`)));
                } else if (op === 'update' && current !== undefined) {
                  stored.set(n, await writer.update(NAMESPACED_KIND, withSpec(current, { node: `node${version}` })));
                } else if (op === 'delete' && current !== undefined) {
                  await writer.delete(NAMESPACED_KIND, `w${n}`, ns);
                  stored.delete(n);
                }
              }
            };
            try {
              for (const segment of segments) {
                if (segment.isCut && backend.interruptWatches !== undefined) {
                  await backend.interruptWatches(async (writer) => {
                    await runOps(writer, segment.ops);
                    if (segment.compactAfter) await backend.compact?.();
                  });
                  await waitUntilReachable(ds);
                } else {
                  await runOps(ds, segment.ops);
                  if (segment.compactAfter) await backend.compact?.();
                }
              }
              // A resync batch is delivered whole before anything after it, so reading up to a
              // sentinel written after the first one has been seen leaves nothing pending.
              for (const sentinel of ['sentinel-a', 'sentinel-b']) {
                await ds.create(NAMESPACED_KIND, endpoint(ns, sentinel));
                applyEvents(consumer, await reader.until(isNamed(sentinel)));
              }
              const fresh = await ds.list(NAMESPACED_KIND, { namespace: ns });
              expect(summary(consumer)).toEqual(summary(stateOf(fresh.items)));
            } finally {
              reader.close();
            }
          }),
          { numRuns: 15 },
        );
      });
    });

    describe('racing writers', () => {
      it('concurrent updates from the same resourceVersion: exactly one wins, the rest fail with ERR_DATASTORE_CONFLICT', async () => {
        const created = await ds.create(CLUSTER_KIND, ipPool(unique('pool')));
        const writers = 10;
        const results = await Promise.allSettled(
          Array.from({ length: writers }, (_, i) => ds.update(CLUSTER_KIND, withSpec(created, { blockSize: 20 + i }))),
        );
        const won = results.filter((r): r is PromiseFulfilledResult<StoredObject> => r.status === 'fulfilled');
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(writers - 1);
        for (const r of lost) expect(hasErrorCode(r.reason, 'ERR_DATASTORE_CONFLICT'), String(r.reason)).toBe(true);
        expect(await ds.get(CLUSTER_KIND, created.metadata.name)).toEqual(won[0]?.value);
      });

      it('concurrent creates of one name: exactly one wins, the rest fail with ERR_DATASTORE_ALREADY_EXISTS', async () => {
        const poolName = unique('pool');
        const results = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) => ds.create(CLUSTER_KIND, ipPool(poolName, {}, `10.${i}.0.0/16`))),
        );
        const won = results.filter((r): r is PromiseFulfilledResult<StoredObject> => r.status === 'fulfilled');
        expect(won).toHaveLength(1);
        for (const r of results) {
          if (r.status === 'rejected') expect(hasErrorCode(r.reason, 'ERR_DATASTORE_ALREADY_EXISTS'), String(r.reason)).toBe(true);
        }
        expect(await ds.get(CLUSTER_KIND, poolName)).toEqual(won[0]?.value);
      });
    });
  });
}
