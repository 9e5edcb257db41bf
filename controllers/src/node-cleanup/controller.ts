/**
 * Node cleanup: when a node is gone (tortie Node in etcd mode, Kubernetes
 * Node in kubernetes mode), remove what it left: its WorkloadEndpoints, its
 * addresses, its empty blocks and their affinities, and (kubernetes mode) the
 * tortie Node. Level-triggered: the keys are every node name any input
 * mentions, so a node deleted while the controller was down is cleaned up at
 * the first sync. A node must stay gone for `gracePeriodMs` (two looks) first.
 */
import { hasErrorCode } from '../../../lib/errors.js';
import type { Logger } from '../../../lib/log.js';
import { Kinds, type KindInfo } from '../../../lib/datastore/kinds.js';
import type { Datastore, StoredObject } from '../../../lib/datastore/types.js';
import { affinityNode } from '../../../crds/src/index.js';
import { type Clock, realClock } from '../runtime/clock.js';
import { type Change, type ObjectCache, Reconciler, type ReconcileContext, type ReconcileOutcome } from '../runtime/reconciler.js';
import { IpamReleaser } from '../ipam-gc/release.js';
import { type DatastoreMode, ipamRecordsOf, nodeKindOf } from '../ipam-gc/snapshot.js';
import { type NodeCleanupPlan, planNodeCleanup } from './plan.js';

export interface NodeCleanupOptions {
  datastore: Datastore;
  mode?: DatastoreMode;
  /** How long a node must be seen gone before its records are removed. */
  gracePeriodMs?: number;
  resyncIntervalMs?: number;
  clock?: Clock;
  log: Logger;
  onCleanup?: (plan: NodeCleanupPlan) => void;
}

export const DEFAULT_NODE_GRACE_PERIOD_MS = 30_000;

function nodesMentionedBy(kind: KindInfo, object: StoredObject | undefined): string[] {
  if (object === undefined) return [];
  const spec = (object.spec ?? {}) as Record<string, unknown>;
  if (kind === Kinds.IPAMBlock) {
    const node = affinityNode(typeof spec['affinity'] === 'string' ? spec['affinity'] : null);
    return node === null ? [] : [node];
  }
  if (kind === Kinds.BlockAffinity || kind === Kinds.WorkloadEndpoint) return typeof spec['node'] === 'string' ? [spec['node']] : [];
  return [object.metadata.name]; // Node, K8sNode
}

export class NodeCleanupController {
  readonly reconciler: Reconciler;
  readonly #ds: Datastore;
  readonly #mode: DatastoreMode;
  readonly #gracePeriodMs: number;
  readonly #clock: Clock;
  readonly #releaser: IpamReleaser;
  readonly #log: Logger;
  readonly #onCleanup: NodeCleanupOptions['onCleanup'];
  readonly #goneSince = new Map<string, number>();
  readonly #inputs: readonly KindInfo[];

  constructor(options: NodeCleanupOptions) {
    this.#ds = options.datastore;
    this.#mode = options.mode ?? options.datastore.type;
    this.#gracePeriodMs = options.gracePeriodMs ?? DEFAULT_NODE_GRACE_PERIOD_MS;
    this.#clock = options.clock ?? realClock;
    this.#releaser = new IpamReleaser(options.datastore, this.#mode);
    this.#log = options.log.child({ component: 'controllers.node-cleanup' });
    this.#onCleanup = options.onCleanup;
    const nodeKind = nodeKindOf(this.#mode);
    this.#inputs = [nodeKind, Kinds.IPAMBlock, Kinds.BlockAffinity, Kinds.WorkloadEndpoint, ...(this.#mode === 'kubernetes' ? [Kinds.Node] : [])];
    this.reconciler = new Reconciler({
      name: 'node-cleanup',
      datastore: options.datastore,
      inputs: this.#inputs,
      keysFor: (change: Change) => [...new Set([...nodesMentionedBy(change.kind, change.old), ...nodesMentionedBy(change.kind, change.current)])],
      allKeys: (cache: ObjectCache) => [...new Set(this.#inputs.flatMap((kind) => cache.list(kind).flatMap((o) => nodesMentionedBy(kind, o))))].sort(),
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

  async reconcile(node: string, ctx: ReconcileContext): Promise<ReconcileOutcome | void> {
    const nodeKind = nodeKindOf(this.#mode);
    if (ctx.cache.get(nodeKind, node) !== undefined || (await this.#ds.get(nodeKind, node)) !== null) {
      this.#goneSince.delete(node);
      return;
    }
    const now = this.#clock.now();
    const since = this.#goneSince.get(node);
    if (since === undefined || now - since < this.#gracePeriodMs) {
      if (since === undefined) this.#goneSince.set(node, now);
      return { requeueAfterMs: Math.max(1, this.#gracePeriodMs - (now - (since ?? now))) };
    }
    const plan = await this.#plan(node);
    const log = this.#log.child({ node });
    const nothingToDo = plan.workloadEndpoints.length + plan.handles.length + plan.blocks.length + plan.affinities.length === 0 && plan.tortieNode === null;
    if (nothingToDo) {
      this.#goneSince.delete(node);
      if (plan.keptBlocks.length > 0) log.debug({ keptBlocks: plan.keptBlocks }, 'blocks of a gone node hold other nodes\' addresses; kept');
      return;
    }
    await this.#apply(plan, log);
    this.#goneSince.delete(node);
    log.info(
      {
        workloadEndpoints: plan.workloadEndpoints.length,
        handles: plan.handles.length,
        blocks: plan.blocks,
        affinities: plan.affinities.map((a) => a.name),
        keptBlocks: plan.keptBlocks,
        tortieNode: plan.tortieNode !== null,
      },
      'cleaned up after a deleted node',
    );
    this.#onCleanup?.(plan);
  }

  async #plan(node: string): Promise<NodeCleanupPlan> {
    const [weps, blocks, affinities] = await Promise.all([
      this.#ds.list(Kinds.WorkloadEndpoint),
      this.#ds.list(Kinds.IPAMBlock),
      this.#ds.list(Kinds.BlockAffinity),
    ]);
    const records = ipamRecordsOf(blocks.items, affinities.items, []);
    const tortieNode = this.#mode === 'kubernetes' ? await this.#ds.get(Kinds.Node, node) : null;
    const ref = (o: StoredObject) => ({ name: o.metadata.name, ...(o.metadata.namespace === undefined ? {} : { namespace: o.metadata.namespace }), resourceVersion: o.metadata.resourceVersion });
    return planNodeCleanup({
      node,
      workloadEndpoints: weps.items.filter((w) => (w.spec as { node?: unknown } | undefined)?.node === node).map(ref),
      blocks: records.blocks,
      affinities: records.affinities,
      tortieNode: tortieNode === null ? null : ref(tortieNode),
    });
  }

  /** Endpoints first (nothing routes to them any more), then addresses, then blocks and affinities, then the Node. */
  async #apply(plan: NodeCleanupPlan, log: Logger): Promise<void> {
    for (const wep of plan.workloadEndpoints) await this.#deleteQuietly(Kinds.WorkloadEndpoint, wep.name, wep.namespace);
    for (const h of plan.handles) {
      const released = await this.#releaser.releaseHandle(h.handleId, h.blocks);
      log.debug({ handleId: h.handleId, released }, 'released handle of a deleted node');
    }
    for (const name of plan.blocks) await this.#releaser.deleteEmptyBlock(name, plan.node);
    for (const a of plan.affinities) await this.#deleteQuietly(Kinds.BlockAffinity, a.name, undefined, a.resourceVersion);
    if (plan.tortieNode !== null) await this.#deleteQuietly(Kinds.Node, plan.tortieNode.name, undefined, plan.tortieNode.resourceVersion);
  }

  /** A missing object is success (someone else removed it); a stale revision throws, and the key is retried. */
  async #deleteQuietly(kind: KindInfo, name: string, namespace?: string, resourceVersion?: string): Promise<void> {
    try {
      await this.#ds.delete(kind, name, namespace, resourceVersion === undefined ? {} : { resourceVersion });
    } catch (err) {
      if (!hasErrorCode(err, 'ERR_DATASTORE_NOT_FOUND')) throw err;
    }
  }
}
