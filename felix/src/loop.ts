/**
 * The policy agent's loop (STYLE.md §1): datastore watches → typed model
 * (PolicyStore) → calculatePolicy (PolicyCalculator: the same result, with a
 * memo of the last one) → renderRuleset → NftTable.apply().
 *
 * - In-sync gate: nothing is written to the kernel before every watch has
 *   delivered its first complete list (`synced`).
 * - Changes are coalesced: a burst of events becomes one apply.
 * - An object the schema refuses (crds `validateAs`), or that the converter
 *   cannot use, is treated as absent and logged with its field paths.
 * - A failed apply keeps the work dirty and is retried after NftTable's
 *   back-off; when NftTable says the failure is fatal, `onFatal` is called
 *   (main.ts exits non-zero: fail closed).
 * - A watch that ends with an error is reopened from what we hold (`from`),
 *   so the datastore delivers the difference.
 */
import type { Logger } from 'pino';
import { formatIssues, validateAs } from '../../crds/src/index.js';
import { Kinds, type KindInfo } from '../../lib/datastore/kinds.js';
import type { Datastore, StoredObject, WatchEvent } from '../../lib/datastore/types.js';
import { PolicyCalculator } from './calc/calculate-policy.js';
import type { EndpointPlan } from './calc/desired.js';
import { PolicyStore, type SnapshotUpdate } from './calc/snapshot.js';
import type { FelixPolicyConfig } from './model/config.js';
import { fromFelixConfiguration } from './model/config.js';
import { endpointKey, fromHostEndpoint, fromK8sServiceAccount, fromWorkloadEndpoint, type ConvertResult } from './model/endpoints.js';
import { fromK8sNetworkPolicy, type K8sNetworkPolicy } from './model/k8s-network-policy.js';
import { fromK8sNamespace } from './model/namespaces.js';
import { fromK8sPod } from './model/pods.js';
import { fromGlobalNetworkSet } from './model/sets.js';
import { fromTortiePolicy, type TortiePolicy } from './model/tortie-policy.js';
import type { NftObject } from './render/nft-json.js';
import { RenderMemo, renderRuleset } from './render/ruleset.js';
import type { ApplyResult } from './dataplane/nft-table.js';
import type { EndpointStatusReporter } from './dataplane/endpoint-status.js';

/** What the loop needs of NftTable (a test can pass a recording fake). */
export interface DataplaneTable {
  setDesired(objects: readonly NftObject[]): void;
  apply(): Promise<ApplyResult>;
  retryDelayMs(): number;
  /** Read the kernel at the next apply instead of trusting the last transaction. */
  resync?(): void;
  readonly ready: boolean;
}

export interface FelixLoopOptions {
  datastore: Datastore;
  nodeName: string;
  table: DataplaneTable;
  log?: Logger;
  /** Wait this long after a change for more before applying (default 20 ms). */
  coalesceMs?: number;
  /** Called once when the dataplane cannot be programmed any more (fail closed). */
  onFatal?: (err: unknown) => void;
  /** Delay before reopening a watch that failed (default 1 s). */
  rewatchDelayMs?: number;
  /**
   * Re-apply this often with no change (default 90 s; 0: never): each apply
   * reads the kernel's table, so a chain or set someone else changed is
   * repaired (Felix's periodic dataplane refresh).
   */
  refreshMs?: number;
  /**
   * Told, after each successful apply, which local workloads that ruleset
   * programs (endpoint status files, for the CNI ADD's wait). A failure is
   * retried after `statusRetryMs` (default 1 s) without failing the loop.
   */
  endpointStatus?: EndpointStatusReporter;
  statusRetryMs?: number;
}

type Converter = (obj: StoredObject) => SnapshotUpdate | { error: string } | null;

const POLICY_KINDS = ['NetworkPolicy', 'GlobalNetworkPolicy'] as const;

function fromConvert<T>(r: ConvertResult<T> | null, make: (v: T) => SnapshotUpdate): SnapshotUpdate | { error: string } | null {
  if (r === null) return null;
  return r.ok ? make(r.value) : { error: r.error };
}

/** The kinds felix watches and how each becomes a SnapshotUpdate. */
export function watchedKinds(mode: Datastore['type']): { kind: KindInfo; convert: Converter }[] {
  const kinds: { kind: KindInfo; convert: Converter }[] = [
    mode === 'kubernetes'
      ? { kind: Kinds.K8sPod, convert: (o) => fromConvert(fromK8sPod(o as never), (v) => ({ kind: 'endpoint', key: endpointKey(v), value: v })) }
      : { kind: Kinds.WorkloadEndpoint, convert: (o) => fromConvert(fromWorkloadEndpoint(o as never), (v) => ({ kind: 'endpoint', key: endpointKey(v), value: v })) },
    ...POLICY_KINDS.map((k) => ({
      kind: Kinds[k],
      convert: (o: StoredObject) => fromConvert(fromTortiePolicy(o as unknown as TortiePolicy), (v) => ({ kind: 'policy', key: v.id, value: v })),
    })),
    { kind: Kinds.K8sNetworkPolicy, convert: (o) => fromConvert(fromK8sNetworkPolicy(o as unknown as K8sNetworkPolicy), (v) => ({ kind: 'policy', key: v.id, value: v })) },
    { kind: Kinds.GlobalNetworkSet, convert: (o) => fromConvert(fromGlobalNetworkSet(o as never), (v) => ({ kind: 'networkSet', key: v.name, value: v })) },
    { kind: Kinds.HostEndpoint, convert: (o) => fromConvert(fromHostEndpoint(o as never), (v) => ({ kind: 'hostEndpoint', key: v.name, value: v })) },
    {
      kind: Kinds.K8sNamespace,
      convert: (o) => {
        const v = fromK8sNamespace(o as never);
        return v === null ? { error: 'metadata.name is required' } : { kind: 'namespace', key: v.name, value: v };
      },
    },
    {
      kind: Kinds.K8sServiceAccount,
      convert: (o) => {
        const v = fromK8sServiceAccount(o as never);
        return v === null ? { error: 'metadata.name and metadata.namespace are required' } : { kind: 'serviceAccount', key: endpointKey(v), value: v };
      },
    },
  ];
  return kinds;
}

const objectKey = (o: StoredObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export class FelixLoop {
  private readonly store: PolicyStore;
  /** calculatePolicy with a memo of the previous calculation: an update recomputes what it touches. */
  private readonly calculator = new PolicyCalculator();
  private readonly renderMemo = new RenderMemo();
  private readonly log: Logger | undefined;
  private readonly coalesceMs: number;
  private readonly kinds: { kind: KindInfo; convert: Converter }[];
  /** Per kind: the valid objects we hold (for `from` on rewatch) and the store key each one set. */
  private readonly held = new Map<string, Map<string, { object: StoredObject; update: { kind: SnapshotUpdate['kind']; key: string } | null }>>();
  private readonly revisions = new Map<string, string>();
  private readonly syncedKinds = new Set<string>();
  private readonly felixConfigs = new Map<string, StoredObject>();
  private readonly watches: { close(): void }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private applying: Promise<void> | null = null;
  private pending = false;
  private stopped = false;
  private fatal = false;
  /** Applies that ran (for tests and metrics). */
  applies = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: FelixLoopOptions) {
    this.store = new PolicyStore(options.nodeName);
    this.log = options.log;
    this.coalesceMs = options.coalesceMs ?? 20;
    this.kinds = [...watchedKinds(options.datastore.type), { kind: Kinds.FelixConfiguration, convert: () => null }];
  }

  /** Every watch has delivered its first complete list. */
  get synced(): boolean {
    return this.syncedKinds.size === this.kinds.length;
  }
  /**
   * In sync, and the last apply succeeded. Not lowered while an apply runs:
   * readiness that flapped with every change would take the node out of
   * service for nothing.
   */
  get ready(): boolean {
    return this.synced && !this.fatal && this.options.table.ready;
  }
  get live(): boolean {
    return !this.fatal;
  }

  start(): void {
    for (const k of this.kinds) void this.runWatch(k);
    const refreshMs = this.options.refreshMs ?? 90_000;
    if (refreshMs > 0) {
      this.refreshTimer = setInterval(() => {
        if (!this.synced) return;
        this.options.table.resync?.();
        this.schedule();
      }, refreshMs);
      this.refreshTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.refreshTimer);
    for (const w of this.watches.splice(0)) w.close();
    await this.applying;
  }

  /** Resolves when in sync and nothing is scheduled or running (tests). */
  whenIdle(): Promise<void> {
    if (this.synced && !this.pending && this.applying === null && this.timer === undefined) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async runWatch(k: { kind: KindInfo; convert: Converter }): Promise<void> {
    const name = k.kind.kind === 'NetworkPolicy' ? `${k.kind.apiVersion}/NetworkPolicy` : k.kind.kind;
    const held = this.held.get(name) ?? new Map();
    this.held.set(name, held);
    while (!this.stopped) {
      const revision = this.revisions.get(name);
      const from = revision === undefined ? undefined : { revision, items: [...held.values()].map((h) => h.object) };
      const watch = this.options.datastore.watch(k.kind, from === undefined ? {} : { from });
      this.watches.push(watch);
      try {
        for await (const ev of watch) {
          if (this.stopped) return;
          this.onEvent(name, k, held, ev);
        }
        if (this.stopped) return;
        this.log?.warn({ kind: name }, 'watch ended, reopening');
      } catch (err) {
        if (this.stopped) return;
        this.log?.warn({ kind: name, err }, 'watch failed, reopening');
      } finally {
        this.watches.splice(this.watches.indexOf(watch), 1);
      }
      await new Promise((r) => setTimeout(r, this.options.rewatchDelayMs ?? 1_000));
    }
  }

  private onEvent(name: string, k: { kind: KindInfo; convert: Converter }, held: Map<string, { object: StoredObject; update: { kind: SnapshotUpdate['kind']; key: string } | null }>, ev: WatchEvent): void {
    this.revisions.set(name, ev.revision);
    if (ev.type === 'synced' || ev.type === 'resynced') {
      if (!this.syncedKinds.has(name)) {
        this.syncedKinds.add(name);
        if (this.synced) this.log?.info({ kinds: this.kinds.length }, 'in sync with the datastore');
      }
      this.schedule();
      return;
    }
    const key = objectKey(ev.object);
    const previous = held.get(key);
    let update: SnapshotUpdate | null = null;
    if (ev.type !== 'deleted') {
      const valid = validateAs(k.kind, ev.object);
      if (!valid.ok) {
        this.log?.warn({ kind: name, name: key, issues: valid.issues, reason: formatIssues(valid.issues) }, 'invalid object treated as absent');
      } else if (k.kind === Kinds.FelixConfiguration) {
        this.felixConfigs.set(key, valid.object);
        held.set(key, { object: ev.object, update: null });
        this.refreshConfig();
        this.schedule();
        return;
      } else {
        const converted = k.convert(valid.object);
        if (converted !== null && 'error' in converted) this.log?.warn({ kind: name, name: key, reason: converted.error }, 'unusable object treated as absent');
        else update = converted;
      }
    }
    if (k.kind === Kinds.FelixConfiguration) {
      this.felixConfigs.delete(key);
      held.delete(key);
      this.refreshConfig();
      this.schedule();
      return;
    }
    // The old key goes unless the new value reuses it.
    if (previous?.update && !(update && update.kind === previous.update.kind && update.key === previous.update.key)) {
      this.store.apply({ kind: previous.update.kind, key: previous.update.key, value: null } as SnapshotUpdate);
    }
    if (update !== null) {
      this.store.apply(update);
      held.set(key, { object: ev.object, update: { kind: update.kind, key: update.key } });
    } else if (ev.type === 'deleted') held.delete(key);
    else held.set(key, { object: ev.object, update: null });
    this.schedule();
  }

  /** `default`, overridden field by field by `node.<nodeName>` (Calico's FelixConfiguration layering). */
  private refreshConfig(): void {
    const spec = (name: string) => (this.felixConfigs.get(`/${name}`)?.spec ?? {}) as Record<string, unknown>;
    const merged = { ...spec('default'), ...Object.fromEntries(Object.entries(spec(`node.${this.options.nodeName}`)).filter(([, v]) => v !== undefined && v !== null)) };
    const r = fromFelixConfiguration(merged as Parameters<typeof fromFelixConfiguration>[0]);
    let value: FelixPolicyConfig | null = null;
    if (r.ok) value = r.value;
    else this.log?.warn({ reason: r.error }, 'FelixConfiguration unusable, using defaults');
    this.store.apply({ kind: 'config', key: 'config', value });
  }

  private schedule(): void {
    if (!this.synced || this.stopped || this.fatal) return;
    this.pending = true;
    if (this.timer !== undefined || this.applying !== null) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.applying = this.applyOnce().finally(() => {
        this.applying = null;
        if (this.pending && !this.fatal && !this.stopped) this.schedule();
        else this.notifyIdle();
      });
    }, this.coalesceMs);
  }

  private notifyIdle(): void {
    if (this.pending || this.applying !== null || this.timer !== undefined) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private async applyOnce(): Promise<void> {
    this.pending = false;
    const snapshot = this.store.snapshot();
    const desired = this.calculator.calculate(snapshot);
    const objects = renderRuleset(desired);
    this.options.table.setDesired(objects);
    try {
      const r = await this.options.table.apply();
      this.applies++;
      if (r.kind !== 'none') this.log?.info({ kind: r.kind, commands: r.commands, ...r.summary }, 'ruleset applied');
    } catch (err) {
      const details = (err as { details?: { fatal?: boolean } }).details;
      if (details?.fatal === true) {
        this.fatal = true;
        this.options.onFatal?.(err);
        for (const w of this.idleWaiters.splice(0)) w();
        return;
      }
      // Retry after the table's back-off; a newer change in the meantime is folded in.
      const delay = this.options.table.retryDelayMs();
      await new Promise((r) => setTimeout(r, delay));
      this.pending = true;
      return;
    }
    await this.reportEndpointStatus(desired.workloads);
  }

  /** Only after the transaction: a status file promises the endpoint's dispatch is in the kernel. */
  private async reportEndpointStatus(workloads: readonly EndpointPlan[]): Promise<void> {
    if (this.options.endpointStatus === undefined) return;
    try {
      await this.options.endpointStatus.reconcile(workloads);
    } catch (err) {
      this.log?.warn({ err }, 'writing endpoint status files failed, retrying');
      await new Promise((r) => setTimeout(r, this.options.statusRetryMs ?? 1_000));
      this.pending = true;
    }
  }
}
