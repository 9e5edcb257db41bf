/**
 * The loop every controller runs (STYLE.md §1): list+watch the inputs into a
 * cache, turn each change into the keys it affects, and reconcile keys from a
 * WorkQueue with back-off on failure.
 *
 * In-sync gate: no key is reconciled before every input has delivered its
 * first complete list (`synced`), so nothing is ever deleted because an input
 * had not been read yet. Then every key is queued once (`allKeys`), again
 * every `resyncIntervalMs` (level-triggered: a missed event costs one resync
 * period, never a leak), and on each change the keys `keysFor` names.
 *
 * A watch that ends with an error is opened again after a back-off; the new
 * list replaces that input's cache at its `synced`, and objects that vanished
 * meanwhile are reported as deletions.
 */
import type { Logger } from '../../../lib/log.js';
import type { KindInfo } from '../../../lib/datastore/kinds.js';
import type { Datastore, StoredObject, Watch } from '../../../lib/datastore/types.js';
import { type Clock, realClock } from './clock.js';
import { WorkQueue, type WorkQueueOptions } from './queue.js';

/** What the watches have delivered: the current objects of each input kind. */
export class ObjectCache {
  readonly #byKind = new Map<KindInfo, Map<string, StoredObject>>();

  constructor(kinds: readonly KindInfo[]) {
    for (const kind of kinds) this.#byKind.set(kind, new Map());
  }

  static keyOf(object: StoredObject): string {
    return object.metadata.namespace === undefined ? object.metadata.name : `${object.metadata.namespace}/${object.metadata.name}`;
  }

  list<T extends StoredObject = StoredObject>(kind: KindInfo): T[] {
    return [...(this.#byKind.get(kind)?.values() ?? [])] as T[];
  }

  get<T extends StoredObject = StoredObject>(kind: KindInfo, name: string, namespace?: string): T | undefined {
    return this.#byKind.get(kind)?.get(namespace === undefined ? name : `${namespace}/${name}`) as T | undefined;
  }

  /** @internal the reconciler's own bookkeeping */
  mapOf(kind: KindInfo): Map<string, StoredObject> {
    const map = this.#byKind.get(kind);
    if (map === undefined) throw new Error(`bug: kind ${kind.kind} (${kind.apiVersion}) is not an input of this cache`);
    return map;
  }

  /** @internal replaces one input's objects after a (re)list */
  replace(kind: KindInfo, objects: Map<string, StoredObject>): void {
    this.#byKind.set(kind, objects);
  }
}

export interface Change {
  kind: KindInfo;
  type: 'added' | 'modified' | 'deleted';
  /** The object before the change (modified, deleted). */
  old: StoredObject | undefined;
  /** The object after the change (added, modified). */
  current: StoredObject | undefined;
}

export interface ReconcileContext {
  readonly cache: ObjectCache;
  /** Queue another key of this reconciler (now, or after a delay). */
  enqueue(key: string, delayMs?: number): void;
}

export interface ReconcileOutcome {
  /** Reconcile this key again after this long even if nothing changes (e.g. a grace period runs out). */
  requeueAfterMs?: number;
}

export interface ReconcilerOptions {
  /** For logs and health: `ipam-gc`, `node-cleanup`. */
  name: string;
  datastore: Datastore;
  /** Input kinds, each list+watched into the cache. */
  inputs: readonly KindInfo[];
  /** Keys a change affects. Called after the cache holds the change. */
  keysFor(change: Change, cache: ObjectCache): readonly string[];
  /** Every key there is: queued when in sync and at each resync. */
  allKeys(cache: ObjectCache): readonly string[];
  /** Brings one key to its desired state; throwing requeues it with back-off. */
  reconcile(key: string, ctx: ReconcileContext): Promise<ReconcileOutcome | void>;
  log: Logger;
  clock?: Clock;
  /** Full resync period (default 5 minutes). */
  resyncIntervalMs?: number;
  /** Keys reconciled at once (default 1). */
  workers?: number;
  /** Pause before reopening a watch that failed (doubles up to 30 s). */
  watchRetryMs?: number;
  queue?: WorkQueueOptions;
}

export interface ReconcilerHealth {
  name: string;
  hasSynced: boolean;
  /** Keys waiting to be reconciled. */
  queued: number;
  reconciled: number;
  failed: number;
  /** Failures in a row, over all keys, since the last success. */
  consecutiveFailures: number;
  lastSuccessMs: number | null;
  lastError: string | null;
}

export class Reconciler {
  readonly cache: ObjectCache;
  readonly queue: WorkQueue;
  readonly #options: ReconcilerOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #synced = new Set<KindInfo>();
  readonly #watches = new Set<Watch>();
  readonly #loops: Promise<void>[] = [];
  readonly #syncWaiters: (() => void)[] = [];
  #cancelResync: (() => void) | null = null;
  #isStopped = false;
  #hasSynced = false;
  #reconciled = 0;
  #failed = 0;
  #consecutiveFailures = 0;
  #lastSuccessMs: number | null = null;
  #lastError: string | null = null;

  constructor(options: ReconcilerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? realClock;
    this.#log = options.log.child({ component: `controllers.${options.name}` });
    this.cache = new ObjectCache(options.inputs);
    this.queue = new WorkQueue({ clock: this.#clock, ...options.queue });
  }

  get hasSynced(): boolean {
    return this.#hasSynced;
  }

  health(): ReconcilerHealth {
    return {
      name: this.#options.name,
      hasSynced: this.#hasSynced,
      queued: this.queue.length,
      reconciled: this.#reconciled,
      failed: this.#failed,
      consecutiveFailures: this.#consecutiveFailures,
      lastSuccessMs: this.#lastSuccessMs,
      lastError: this.#lastError,
    };
  }

  /** Opens the watches and starts the workers (which wait for the in-sync gate). */
  start(): void {
    for (const kind of this.#options.inputs) this.#loops.push(this.#watchLoop(kind));
    const workers = Math.max(1, this.#options.workers ?? 1);
    for (let i = 0; i < workers; i++) this.#loops.push(this.#workerLoop());
  }

  /** Resolves once every input has synced (at once if it has). */
  waitForSync(): Promise<void> {
    if (this.#hasSynced || this.#isStopped) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  /** Resolves when the queue is empty and no key is being processed (for tests). */
  async stop(): Promise<void> {
    this.#isStopped = true;
    this.#cancelResync?.();
    this.queue.shutDown();
    for (const w of this.#watches) w.close();
    for (const resolve of this.#syncWaiters.splice(0)) resolve();
    await Promise.allSettled(this.#loops);
  }

  #enqueue(key: string, delayMs = 0): void {
    if (delayMs > 0) this.queue.addAfter(key, delayMs);
    else this.queue.add(key);
  }

  #onChange(change: Change): void {
    if (!this.#hasSynced) return; // every key is queued at the gate anyway
    for (const key of this.#options.keysFor(change, this.cache)) this.#enqueue(key);
  }

  #markSynced(kind: KindInfo): void {
    this.#synced.add(kind);
    if (this.#hasSynced || this.#synced.size < this.#options.inputs.length) return;
    this.#hasSynced = true;
    this.#log.info({ inputs: this.#options.inputs.map((k) => k.plural) }, 'in sync');
    for (const resolve of this.#syncWaiters.splice(0)) resolve();
    this.#resync();
  }

  #resync(): void {
    if (this.#isStopped) return;
    for (const key of this.#options.allKeys(this.cache)) this.#enqueue(key);
    const intervalMs = this.#options.resyncIntervalMs ?? 300_000;
    this.#cancelResync = this.#clock.setTimer(() => this.#resync(), intervalMs);
  }

  async #watchLoop(kind: KindInfo): Promise<void> {
    let retryMs = this.#options.watchRetryMs ?? 1_000;
    while (!this.#isStopped) {
      const watch = this.#options.datastore.watch(kind);
      this.#watches.add(watch);
      // Until this watch's `synced`, its list goes into a fresh map; the cache keeps the old one.
      let listing: Map<string, StoredObject> | null = new Map();
      try {
        for await (const event of watch) {
          if (event.type === 'synced') {
            if (listing !== null) this.#swapIn(kind, listing);
            listing = null;
            this.#markSynced(kind);
            retryMs = this.#options.watchRetryMs ?? 1_000;
            continue;
          }
          if (event.type === 'resynced') {
            this.#log.info({ kind: kind.plural, revision: event.revision }, 'watch relisted');
            continue;
          }
          const key = ObjectCache.keyOf(event.object);
          if (listing !== null) {
            if (event.type === 'deleted') listing.delete(key);
            else listing.set(key, event.object);
            continue;
          }
          const map = this.cache.mapOf(kind);
          const old = map.get(key);
          if (event.type === 'deleted') map.delete(key);
          else map.set(key, event.object);
          this.#onChange({ kind, type: event.type, old, current: event.type === 'deleted' ? undefined : event.object });
        }
        if (this.#isStopped) return;
        this.#log.warn({ kind: kind.plural, retryMs }, 'watch ended; reopening');
      } catch (err) {
        if (this.#isStopped) return;
        this.#log.warn({ kind: kind.plural, retryMs, code: (err as { code?: string }).code, err }, 'watch failed; reopening');
      } finally {
        watch.close();
        this.#watches.delete(watch);
      }
      await new Promise<void>((resolve) => this.#clock.setTimer(resolve, retryMs));
      retryMs = Math.min(retryMs * 2, 30_000);
    }
  }

  /** A fresh list replaces the cache of one kind; what changed meanwhile is reported as changes. */
  #swapIn(kind: KindInfo, fresh: Map<string, StoredObject>): void {
    const old = this.cache.mapOf(kind);
    this.cache.replace(kind, fresh);
    for (const [key, before] of old) {
      if (!fresh.has(key)) this.#onChange({ kind, type: 'deleted', old: before, current: undefined });
    }
    for (const [key, after] of fresh) {
      const before = old.get(key);
      if (before === undefined) this.#onChange({ kind, type: 'added', old: undefined, current: after });
      else if (before.metadata.resourceVersion !== after.metadata.resourceVersion) this.#onChange({ kind, type: 'modified', old: before, current: after });
    }
  }

  async #workerLoop(): Promise<void> {
    await this.waitForSync();
    const ctx: ReconcileContext = { cache: this.cache, enqueue: (key, delayMs) => this.#enqueue(key, delayMs) };
    for (;;) {
      const key = await this.queue.get();
      if (key === null) return;
      try {
        const outcome = await this.#options.reconcile(key, ctx);
        this.queue.forget(key);
        this.#reconciled++;
        if (this.#consecutiveFailures > 0) this.#log.info({ afterFailures: this.#consecutiveFailures }, 'reconciling again after failures');
        this.#consecutiveFailures = 0;
        this.#lastSuccessMs = this.#clock.now();
        if (outcome?.requeueAfterMs !== undefined) this.queue.addAfter(key, outcome.requeueAfterMs);
      } catch (err) {
        this.#failed++;
        this.#consecutiveFailures++;
        this.#lastError = (err as Error).message ?? String(err);
        const retryMs = this.queue.addRateLimited(key);
        this.#log.warn({ key, retryMs, failures: this.queue.failuresOf(key), code: (err as { code?: string }).code, err }, 'reconcile failed; will retry');
      } finally {
        this.queue.done(key);
      }
    }
  }
}
