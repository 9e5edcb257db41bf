/**
 * The IPAM garbage collector: a Reconciler over blocks, affinities, handles,
 * nodes and workloads (WorkloadEndpoints in etcd mode, Pods in kubernetes
 * mode). Keys:
 * - `sweep`: any change queues it (deduplicated while waiting). It runs
 *   `findLeakedAllocations` over the cache and queues one key per release due;
 *   while leaks wait out their grace period it asks to sweep again when the
 *   first of them is due.
 * - `allocation/…`, `handle/…`, `affinity/…`, `block/…`: one release each,
 *   applied by IpamReleaser (fresh re-read, CAS); a failure is retried with
 *   back-off on its own, without holding up the others.
 */
import type { Logger } from '../../../lib/log.js';
import type { Datastore } from '../../../lib/datastore/types.js';
import { type Clock, realClock } from '../runtime/clock.js';
import { Reconciler, type ReconcileContext, type ReconcileOutcome } from '../runtime/reconciler.js';
import { findLeakedAllocations, type LeakObservations, type Release } from './find-leaks.js';
import { IpamReleaser } from './release.js';
import { type DatastoreMode, gcInputsOf, snapshotOf } from './snapshot.js';

export const SWEEP_KEY = 'sweep';

export interface IpamGcOptions {
  datastore: Datastore;
  /** Which objects say a workload and a node exist; the datastore's own type by default. */
  mode?: DatastoreMode;
  /** How long a leak must be seen, unchanged, before it is released (Calico's leakGracePeriod, 15 min). */
  gracePeriodMs?: number;
  resyncIntervalMs?: number;
  clock?: Clock;
  log: Logger;
  /** Called after each release is written (metrics, tests). */
  onRelease?: (release: Release, result: { released: string[]; deleted: string[] }) => void;
}

export const DEFAULT_GRACE_PERIOD_MS = 15 * 60_000;

export class IpamGarbageCollector {
  readonly reconciler: Reconciler;
  readonly #mode: DatastoreMode;
  readonly #gracePeriodMs: number;
  readonly #clock: Clock;
  readonly #releaser: IpamReleaser;
  readonly #log: Logger;
  readonly #onRelease: IpamGcOptions['onRelease'];
  #observations: LeakObservations = new Map();
  /** Releases due, by key, waiting for (or being retried by) the queue. */
  readonly #due = new Map<string, Release>();

  constructor(options: IpamGcOptions) {
    this.#mode = options.mode ?? options.datastore.type;
    this.#gracePeriodMs = options.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS;
    this.#clock = options.clock ?? realClock;
    this.#releaser = new IpamReleaser(options.datastore, this.#mode);
    this.#log = options.log.child({ component: 'controllers.ipam-gc' });
    this.#onRelease = options.onRelease;
    this.reconciler = new Reconciler({
      name: 'ipam-gc',
      datastore: options.datastore,
      inputs: gcInputsOf(this.#mode),
      keysFor: () => [SWEEP_KEY],
      allKeys: () => [SWEEP_KEY],
      reconcile: (key, ctx) => this.reconcile(key, ctx),
      log: options.log,
      clock: this.#clock,
      ...(options.resyncIntervalMs === undefined ? {} : { resyncIntervalMs: options.resyncIntervalMs }),
    });
  }

  start(): void {
    this.reconciler.start();
  }

  stop(): Promise<void> {
    return this.reconciler.stop();
  }

  /** Leaks seen and waiting out their grace period. */
  get waiting(): number {
    return this.#observations.size - this.#due.size;
  }

  async reconcile(key: string, ctx: ReconcileContext): Promise<ReconcileOutcome | void> {
    if (key === SWEEP_KEY) return this.#sweep(ctx);
    const release = this.#due.get(key);
    if (release === undefined) return;
    const log = this.#log.child({ key, reason: release.reason });
    const outcome = await this.#releaser.apply(release);
    this.#due.delete(key);
    if (!outcome.done) {
      log.info({ why: outcome.reason }, 'leak resolved itself; nothing released');
      return;
    }
    log.info({ released: outcome.released, deleted: outcome.deleted }, 'released leaked IPAM record');
    this.#onRelease?.(release, outcome);
  }

  #sweep(ctx: ReconcileContext): ReconcileOutcome | void {
    const result = findLeakedAllocations(snapshotOf(this.#mode, ctx.cache), this.#observations, {
      nowMs: this.#clock.now(),
      gracePeriodMs: this.#gracePeriodMs,
    });
    this.#observations = result.observations;
    for (const release of result.releases) {
      if (!this.#due.has(release.key)) ctx.enqueue(release.key);
      this.#due.set(release.key, release);
    }
    if (result.releases.length > 0 || result.observations.size > 0) {
      this.#log.debug({ due: result.releases.length, waiting: result.observations.size - result.releases.length }, 'swept');
    }
    if (result.recheckAfterMs !== null) return { requeueAfterMs: result.recheckAfterMs };
  }
}
