/**
 * The `etcdv3` datastore backend (DESIGN.md "Datastore"), through the etcd3
 * client.
 *
 * ## Key layout
 * Every object is one key under `ETCD_KEY_PREFIX` (lib/contract.ts, `/tortie/v1/`):
 *
 *     /tortie/v1/<group or "core">/<plural>/<name>               cluster-scoped kinds
 *     /tortie/v1/<group or "core">/<plural>/<namespace>/<name>   namespaced kinds
 *
 * e.g. `/tortie/v1/crd.tortie.dev/ippools/default-ipv4-ippool`,
 * `/tortie/v1/crd.tortie.dev/workloadendpoints/default/node1-k8s-web-eth0`,
 * `/tortie/v1/core/namespaces/default`,
 * `/tortie/v1/networking.k8s.io/networkpolicies/default/deny-all`.
 * The group keeps `crd.tortie.dev/networkpolicies` apart from
 * `networking.k8s.io/networkpolicies` and `crd.tortie.dev/nodes` apart from
 * `core/nodes`. Names and namespaces may not contain `/`, so a namespace's
 * keys are exactly the range `<plural>/<namespace>/`.
 *
 * ## Values and revisions
 * The value is the object as JSON without `metadata.resourceVersion`. The
 * resourceVersion handed out is the key's `mod_revision` (a decimal string).
 * `uid` (random UUID) and `creationTimestamp` are set by create (whatever the
 * writer gave) and kept by update.
 *
 * - create: one txn, `create_revision == 0` then put.
 * - update: one txn, `mod_revision == metadata.resourceVersion` then put, else
 *   read the key: absent is ERR_DATASTORE_NOT_FOUND, present is
 *   ERR_DATASTORE_CONFLICT. A missing (or malformed) resourceVersion is
 *   ERR_VALIDATION: an update is always a compare-and-swap, never a blind
 *   write. uid and creationTimestamp come from the writer's object when it has
 *   both (it read the object at that revision, so they are the stored ones);
 *   otherwise update reads the object first to carry them over.
 * - delete: a plain delete-with-previous, or with `resourceVersion` the same
 *   compare as update. It returns the object as it was last stored (its
 *   resourceVersion is its last mod_revision, not the deletion's revision).
 * - list: range reads of the prefix (of the namespace when given) in pages
 *   of 500 keys, all at the first page's revision, which is the list's
 *   `revision`. Label selectors (Kubernetes syntax) are matched here,
 *   client-side.
 *
 * ## Watch
 * An etcd watch on the same prefix, on a gRPC Watch stream of its own,
 * delivering every change after `from.revision` (or after its own first
 * list). Events come in revision order; the watch keeps the
 * state its consumer has (from.items plus every event since) for two
 * reasons: a label-selected watch turns "no longer matches" into `deleted`
 * and "now matches" into `added`, and after compaction it can deliver the
 * exact difference. It does not ask etcd for prev_kv: the tracked state
 * already holds every previous value, and prev_kv would double the bytes of
 * every put.
 * - Connection loss (stream error or end): reopen with exponential back-off
 *   (50 ms up to `watchMaxBackoffMs`), from the last revision *delivered*.
 *   Every etcd watch starts at that revision rather than the next one and
 *   skips what it already delivered: compacting at revision C removes a
 *   delete tombstone at C, yet etcd accepts a watch starting at C, so a
 *   watch from C would silently miss that delete (found by the conformance
 *   suite's random histories). Starting one earlier makes etcd report the
 *   compaction instead.
 *   etcd3's own Watcher is not used: it resumes from the last response
 *   header (which can run ahead of events etcd has not sent yet while it
 *   catches up in batches), shares one stream and one attach queue between
 *   all watchers, and reports compaction only as a generic 'error'; with our
 *   own stream, compact_revision is read directly.
 * - Compaction (etcd cancels the watch with compact_revision): relist,
 *   deliver the difference against the tracked state as
 *   added/modified/deleted, then `{type: 'resynced'}`, then watch on from the
 *   relist's revision. The difference comes in revision order: added and
 *   modified objects by their mod_revision, then deletions at the relist's
 *   revision. Any other cancellation does the same after a back-off (so a
 *   cancel that relisting can't cure doesn't spin). A failing relist is
 *   retried with back-off.
 * - Events buffer without bound if the consumer does not read them.
 *
 * ## Errors
 * gRPC unavailability, deadlines (every unary call has one:
 * `requestTimeoutMs`) and open circuit breakers become
 * ERR_DATASTORE_UNAVAILABLE naming the endpoints; OUT_OF_RANGE (a read at a
 * compacted revision) is ERR_DATASTORE_COMPACTED; INVALID_ARGUMENT (e.g. a
 * value over etcd's request size limit) is ERR_VALIDATION. Requests are not retried
 * here: a retried transaction whose first attempt landed would report
 * ALREADY_EXISTS or CONFLICT for our own write; callers retry on
 * ERR_DATASTORE_UNAVAILABLE knowing what they wrote.
 */
import { randomUUID } from 'node:crypto';
import {
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
  isBrokenCircuitError,
  noop,
} from 'cockatiel';
import {
  ClientClosedError,
  Etcd3,
  GRPCCancelledError,
  GRPCDeadlineExceededError,
  GRPCGenericError,
  GRPCInvalidArgumentError,
  GRPCOutOfRangeError,
  GRPCResourceExhastedError,
  Range,
  isRecoverableError,
  type CallContext,
  type IKeyValue,
  type IDuplexStream,
  type IWatchRequest,
  type IWatchResponse,
} from 'etcd3';
import { ETCD_KEY_PREFIX } from '../contract.js';
import { TortieError, hasErrorCode } from '../errors.js';
import type { SelectorAst } from '../selector/ast.js';
import { parseLabelSelectorString } from '../selector/label-selector.js';
import { matchSelector } from '../selector/match.js';
import { groupOf, type KindInfo } from './kinds.js';
import type {
  Datastore,
  DeleteOptions,
  ListOptions,
  ListResult,
  StoredObject,
  Watch,
  WatchEvent,
  WatchOptions,
} from './types.js';

export interface EtcdDatastoreOptions {
  /** `http://127.0.0.1:2379` or `127.0.0.1:2379`; several for a cluster. */
  endpoints: string[];
  /**
   * TLS for `https://` endpoints, as calicoctl's ETCD_CA_CERT_FILE, ETCD_CERT_FILE and ETCD_KEY_FILE:
   * the PEM contents (read the files at the composition root). `cert` and `key` only when etcd
   * asks for client certificates.
   */
  tls?: { ca: Buffer | string; cert?: Buffer | string; key?: Buffer | string };
  /** Deadline of every unary request (default 10 s). */
  requestTimeoutMs?: number;
  /** Keys per range request of a list (default 500): no response grows past gRPC's message limit. */
  listPageSize?: number;
  /** Upper bound of the watch reconnect and relist back-off (default 5 s). */
  watchMaxBackoffMs?: number;
  /** Called when a watch loses its place or a relist fails (it retries by itself); for logging. */
  onWatchProblem?: (problem: { reason: 'canceled' | 'disconnected' | 'relist-failed'; error: unknown }) => void;
}

export function createEtcdDatastore(options: EtcdDatastoreOptions): EtcdDatastore {
  return new EtcdDatastore(options);
}

/** Prefix of all keys of a kind (of one namespace when given), ending in `/`. */
export function etcdPrefixOf(kind: KindInfo, namespace?: string): string {
  const base = `${ETCD_KEY_PREFIX}${groupOf(kind) || 'core'}/${kind.plural}/`;
  return kind.namespaced && namespace !== undefined ? `${base}${namespace}/` : base;
}

/** The key of one object. */
export function etcdKeyOf(kind: KindInfo, name: string, namespace?: string): string {
  checkName(kind, 'metadata.name', name);
  if (kind.namespaced) {
    if (namespace === undefined || namespace === '') {
      throw new TortieError('ERR_VALIDATION', `metadata.namespace: ${kind.kind} is namespaced; give a namespace`);
    }
    checkName(kind, 'metadata.namespace', namespace);
    return `${etcdPrefixOf(kind)}${namespace}/${name}`;
  }
  return `${etcdPrefixOf(kind)}${name}`;
}

function checkName(kind: KindInfo, field: string, value: unknown): void {
  if (typeof value !== 'string' || value === '' || value.length > 253 || /[/\0]/.test(value)) {
    throw new TortieError(
      'ERR_VALIDATION',
      `${field}: ${JSON.stringify(value)} is not a valid ${kind.kind} name; use 1-253 characters without "/"`,
    );
  }
}

const REVISION = /^[1-9][0-9]*$/;

export class EtcdDatastore implements Datastore {
  readonly type = 'etcdv3' as const;
  /** The etcd3 client; exposed for tests, benchmarks and operations such as compaction. */
  readonly client: Etcd3;
  readonly endpoints: readonly string[];
  private readonly watches = new Set<EtcdWatch<StoredObject>>();
  private readonly watchMaxBackoffMs: number;
  private readonly listPageSize: number;
  private readonly onWatchProblem: EtcdDatastoreOptions['onWatchProblem'];
  private isClosed = false;

  constructor(options: EtcdDatastoreOptions) {
    if (options.endpoints.length === 0) {
      throw new TortieError('ERR_CONFIG_INVALID', 'etcd endpoints: give at least one, e.g. http://127.0.0.1:2379');
    }
    this.endpoints = [...options.endpoints];
    const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.watchMaxBackoffMs = options.watchMaxBackoffMs ?? 5_000;
    this.listPageSize = options.listPageSize ?? 500;
    this.onWatchProblem = options.onWatchProblem;
    const { tls } = options;
    if (tls !== undefined && (tls.cert === undefined) !== (tls.key === undefined)) {
      throw new TortieError('ERR_CONFIG_INVALID', 'etcd TLS: give both a client certificate and its key, or neither');
    }
    this.client = new Etcd3({
      hosts: [...this.endpoints],
      ...(tls === undefined
        ? {}
        : {
            credentials: {
              rootCertificate: Buffer.from(tls.ca),
              ...(tls.cert === undefined ? {} : { certChain: Buffer.from(tls.cert) }),
              ...(tls.key === undefined ? {} : { privateKey: Buffer.from(tls.key) }),
            },
          }),
      grpcOptions: {
        // grpc-js backs off up to 120 s between reconnects; after an outage we want etcd back within seconds.
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 2000,
        // A watch catching up gets up to 1000 revisions per message: allow more than gRPC's 4 MiB default.
        'grpc.max_receive_message_length': 256 * 1024 * 1024,
        // A silent peer (no RST) would leave a watch waiting forever: ping, and give up after 10 s.
        // etcd refuses pings more often than every 5 s (--grpc-keepalive-min-time).
        'grpc.keepalive_time_ms': 30_000,
        'grpc.keepalive_timeout_ms': 10_000,
      },
      defaultCallOptions: (context: CallContext) =>
        context.isStream ? {} : { deadline: Date.now() + requestTimeoutMs },
      faultHandling: {
        global: noop,
        // Per endpoint, as etcd3's default (3 failures in a row open it, so calls go to other endpoints)
        // but half-open after 1 s instead of 5 s: a single etcd that is back serves again at once.
        // A stream we cancel ourselves (a closed watch) ends with CANCELLED, which etcd3 calls
        // recoverable; it says nothing about the endpoint, so it must not count towards opening it.
        host: () =>
          circuitBreaker(
            handleWhen((err) => isRecoverableError(err) && !(err instanceof GRPCCancelledError)),
            { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) },
          ),
      },
    });
  }

  async get<T extends StoredObject = StoredObject>(kind: KindInfo, name: string, namespace?: string): Promise<T | null> {
    const key = etcdKeyOf(kind, name, namespace);
    const response = await this.call('get', () => this.client.get(key).exec());
    const kv = response.kvs[0];
    return kv === undefined ? null : decodeOrThrow<T>(kv);
  }

  async list<T extends StoredObject = StoredObject>(kind: KindInfo, options: ListOptions = {}): Promise<ListResult<T>> {
    const selector = parseSelectorOption(options.labelSelector);
    const { objects, revision } = await this.listPrefix<T>(etcdPrefixOf(kind, options.namespace), selector);
    return { items: [...objects.values()], revision: String(revision) };
  }

  /**
   * @internal (used by the watch)
   * A consistent read of a prefix, decoded and filtered, keyed by etcd key:
   * pages of `listPageSize` keys, every page after the first read at the
   * first page's revision (as the Kubernetes API server pages etcd). If that
   * revision is compacted between pages, the list starts over.
   */
  async listPrefix<T extends StoredObject>(
    prefix: string,
    selector: SelectorAst | undefined,
  ): Promise<{ objects: Map<string, T>; revision: number }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.listPages<T>(prefix, selector);
      } catch (err) {
        if (!hasErrorCode(err, 'ERR_DATASTORE_COMPACTED') || attempt >= 3) throw err;
      }
    }
  }

  private async listPages<T extends StoredObject>(
    prefix: string,
    selector: SelectorAst | undefined,
  ): Promise<{ objects: Map<string, T>; revision: number }> {
    const { end } = Range.prefix(prefix);
    let start = Buffer.from(prefix);
    let revision: string | undefined;
    const objects = new Map<string, T>();
    while (true) {
      const page = this.client.getAll().inRange(new Range(start, end)).limit(this.listPageSize);
      if (revision !== undefined) page.revision(revision);
      const response = await this.call('list', () => page.exec());
      revision ??= response.header.revision;
      for (const kv of response.kvs) {
        const object = decodeOrNull<T>(kv);
        if (object !== null && isSelected(object, selector)) objects.set(kv.key.toString(), object);
      }
      const last = response.kvs.at(-1);
      if (!response.more || last === undefined) break;
      start = Buffer.concat([last.key, Buffer.from([0])]);
    }
    return { objects, revision: Number(revision) };
  }

  watch<T extends StoredObject = StoredObject>(kind: KindInfo, options: WatchOptions<T> = {}): Watch<T> {
    if (this.isClosed) throw new TortieError('ERR_DATASTORE_UNAVAILABLE', 'etcd datastore is closed');
    const selector = parseSelectorOption(options.labelSelector);
    if (options.from !== undefined && !REVISION.test(options.from.revision)) {
      throw new TortieError('ERR_VALIDATION', `watch from revision ${JSON.stringify(options.from.revision)}: not an etcd revision`);
    }
    const watch = new EtcdWatch<T>({
      store: this,
      kind,
      prefix: etcdPrefixOf(kind, options.namespace),
      selector,
      maxBackoffMs: this.watchMaxBackoffMs,
      onProblem: this.onWatchProblem,
      onClose: (w) => this.watches.delete(w as unknown as EtcdWatch<StoredObject>),
    });
    this.watches.add(watch as unknown as EtcdWatch<StoredObject>);
    watch.start(options.from);
    return watch;
  }

  async create<T extends StoredObject>(kind: KindInfo, object: T): Promise<T> {
    checkObject(kind, object);
    const key = etcdKeyOf(kind, object.metadata.name, object.metadata.namespace);
    const stored: T = {
      ...object,
      metadata: { ...object.metadata, uid: randomUUID(), creationTimestamp: new Date().toISOString() },
    };
    const value = encode(stored);
    const response = await this.call('create', () =>
      this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(value)).commit(),
    );
    if (!response.succeeded) {
      throw new TortieError('ERR_DATASTORE_ALREADY_EXISTS', `${describe(kind, object)} already exists`);
    }
    return withRevision(stored, response.header.revision);
  }

  async update<T extends StoredObject>(kind: KindInfo, object: T): Promise<T> {
    checkObject(kind, object);
    const { name, namespace, resourceVersion } = object.metadata;
    if (resourceVersion === undefined || !REVISION.test(resourceVersion)) {
      throw new TortieError(
        'ERR_VALIDATION',
        `metadata.resourceVersion: ${resourceVersion === undefined ? 'missing' : JSON.stringify(resourceVersion) + ' is not an etcd revision'}; ` +
          `update is compare-and-swap: get the object first, or use create for a new one`,
      );
    }
    const key = etcdKeyOf(kind, name, namespace);
    let carried = object.metadata;
    if (carried.uid === undefined || carried.creationTimestamp === undefined) {
      // The writer built the object itself: carry uid and creationTimestamp over from the stored one.
      const current = await this.get(kind, name, namespace);
      if (current === null) throw notFound(kind, object);
      if (current.metadata.resourceVersion !== resourceVersion) throw conflict(kind, object, current.metadata.resourceVersion);
      carried = { ...carried, uid: current.metadata.uid, creationTimestamp: current.metadata.creationTimestamp };
    }
    const stored: T = { ...object, metadata: carried };
    const value = encode(stored);
    const response = await this.call('update', () =>
      this.client
        .if(key, 'Mod', '==', resourceVersion)
        .then(this.client.put(key).value(value))
        .else(this.client.get(key))
        .commit(),
    );
    if (!response.succeeded) {
      const current = response.responses[0]?.response_range?.kvs[0];
      if (current === undefined) throw notFound(kind, object);
      throw conflict(kind, object, current.mod_revision);
    }
    return withRevision(stored, response.header.revision);
  }

  async delete<T extends StoredObject = StoredObject>(
    kind: KindInfo,
    name: string,
    namespace?: string,
    options: DeleteOptions = {},
  ): Promise<T> {
    const key = etcdKeyOf(kind, name, namespace);
    const ref = { metadata: { name, namespace } };
    const { resourceVersion } = options;
    if (resourceVersion === undefined) {
      const previous = await this.call('delete', () => this.client.delete().key(key).getPrevious());
      const kv = previous[0];
      if (kv === undefined) throw notFound(kind, ref);
      return decodeOrThrow<T>(kv);
    }
    if (!REVISION.test(resourceVersion)) {
      throw new TortieError('ERR_VALIDATION', `resourceVersion ${JSON.stringify(resourceVersion)} is not an etcd revision`);
    }
    const response = await this.call('delete', () =>
      this.client
        .if(key, 'Mod', '==', resourceVersion)
        .then(this.client.get(key), this.client.delete().key(key))
        .else(this.client.get(key))
        .commit(),
    );
    const kv = response.responses[0]?.response_range?.kvs[0];
    if (kv === undefined) throw notFound(kind, ref);
    if (!response.succeeded) throw conflict(kind, ref, kv.mod_revision, resourceVersion);
    return decodeOrThrow<T>(kv);
  }

  /** The store's current revision. */
  async currentRevision(): Promise<string> {
    const response = await this.call('read revision', () => this.client.get(ETCD_KEY_PREFIX).exec());
    return response.header.revision;
  }

  /**
   * Discards history up to `revision` (default: now). Watches that later
   * resume from an older revision relist and resync. Operations run this
   * periodically (etcd's own --auto-compaction does the same); tests use it.
   */
  async compact(revision?: string): Promise<void> {
    const at = revision ?? (await this.currentRevision());
    try {
      await this.call('compact', () => this.client.kv.compact({ revision: at, physical: true }));
    } catch (err) {
      // Already compacted at or past `at`: what we asked for is done.
      if (!hasErrorCode(err, 'ERR_DATASTORE_COMPACTED')) throw err;
    }
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const watch of [...this.watches]) watch.close();
    this.client.close();
  }

  /** Runs one etcd call and turns its failure into a TortieError. */
  async call<R>(operation: string, run: () => Promise<R>): Promise<R> {
    if (this.isClosed) throw new TortieError('ERR_DATASTORE_UNAVAILABLE', `etcd datastore is closed (${operation})`);
    try {
      return await run();
    } catch (err) {
      throw this.convertError(operation, err);
    }
  }

  private convertError(operation: string, err: unknown): unknown {
    if (err instanceof TortieError) return err;
    const where = `etcd at ${this.endpoints.join(',')}`;
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof GRPCOutOfRangeError) {
      return new TortieError('ERR_DATASTORE_COMPACTED', `${operation} at ${where}: ${message}`, { cause: err });
    }
    // Over etcd's --max-request-bytes (1.5 MiB by default) etcd answers INVALID_ARGUMENT "request is
    // too large"; past its gRPC limit (that plus 512 KiB), RESOURCE_EXHAUSTED "received message larger
    // than max". Only the message tells the latter from a full database (also RESOURCE_EXHAUSTED),
    // which is an outage, not a bad object.
    if (err instanceof GRPCInvalidArgumentError || (err instanceof GRPCResourceExhastedError && /larger than max/.test(message))) {
      return new TortieError('ERR_VALIDATION', `${operation} refused by ${where}, the request is too large: ${message}`, { cause: err });
    }
    if (
      isBrokenCircuitError(err) ||
      err instanceof ClientClosedError ||
      err instanceof GRPCDeadlineExceededError ||
      err instanceof GRPCGenericError ||
      (err instanceof Error && isRecoverableError(err))
    ) {
      return new TortieError('ERR_DATASTORE_UNAVAILABLE', `${where} is unavailable (${operation}): ${message}`, {
        cause: err,
        details: { endpoints: this.endpoints },
      });
    }
    return err;
  }
}

function parseSelectorOption(text: string | undefined): SelectorAst | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const parsed = parseLabelSelectorString(text);
  if (!parsed.ok) {
    throw new TortieError(
      'ERR_SELECTOR_SYNTAX',
      `labelSelector ${JSON.stringify(text)}: ${parsed.error.message} at column ${parsed.error.column}`,
      { details: { column: parsed.error.column } },
    );
  }
  return parsed.selector;
}

function isSelected(object: StoredObject, selector: SelectorAst | undefined): boolean {
  return selector === undefined || matchSelector(selector, object.metadata.labels ?? {});
}

function checkObject(kind: KindInfo, object: StoredObject): void {
  if (object.apiVersion !== kind.apiVersion || object.kind !== kind.kind) {
    throw new TortieError(
      'ERR_VALIDATION',
      `apiVersion/kind: ${object.apiVersion}/${object.kind} written as ${kind.kind}; use apiVersion ${kind.apiVersion}, kind ${kind.kind}`,
    );
  }
  if (typeof object.metadata !== 'object' || object.metadata === null) {
    throw new TortieError('ERR_VALIDATION', 'metadata: missing; give at least metadata.name');
  }
  if (!kind.namespaced && object.metadata.namespace !== undefined) {
    throw new TortieError('ERR_VALIDATION', `metadata.namespace: ${kind.kind} is cluster-scoped; remove the namespace`);
  }
}

function describe(kind: KindInfo, object: { metadata: { name: string; namespace?: string | undefined } }): string {
  const { name, namespace } = object.metadata;
  return namespace === undefined ? `${kind.kind} "${name}"` : `${kind.kind} "${namespace}/${name}"`;
}

function notFound(kind: KindInfo, object: { metadata: { name: string; namespace?: string | undefined } }): TortieError {
  return new TortieError('ERR_DATASTORE_NOT_FOUND', `${describe(kind, object)} not found`);
}

function conflict(
  kind: KindInfo,
  object: { metadata: { name: string; namespace?: string | undefined; resourceVersion?: string | undefined } },
  storedRevision: string | undefined,
  givenRevision = object.metadata.resourceVersion,
): TortieError {
  return new TortieError(
    'ERR_DATASTORE_CONFLICT',
    `${describe(kind, object)} was modified: resourceVersion ${givenRevision} is stale, the stored one is ${storedRevision}; get it again and retry`,
    { details: { resourceVersion: givenRevision, storedResourceVersion: storedRevision } },
  );
}

function encode(object: StoredObject): string {
  const { resourceVersion, ...metadata } = object.metadata;
  void resourceVersion; // never stored: the key's mod_revision is the resourceVersion
  return JSON.stringify({ ...object, metadata });
}

function withRevision<T extends StoredObject>(object: T, revision: string): T {
  return { ...object, metadata: { ...object.metadata, resourceVersion: revision } };
}

function decodeOrThrow<T extends StoredObject>(kv: IKeyValue): T {
  const object = decodeOrNull<T>(kv);
  if (object === null) {
    throw new TortieError('ERR_VALIDATION', `etcd key ${kv.key.toString()} does not hold a JSON object with metadata`);
  }
  return object;
}

/** A value someone else wrote that is not an object of ours is treated as absent (STYLE.md §1). */
function decodeOrNull<T extends StoredObject>(kv: IKeyValue): T | null {
  let object: unknown;
  try {
    object = JSON.parse(kv.value.toString('utf8'));
  } catch (err) {
    void err; // not JSON: absent, as documented above
    return null;
  }
  if (typeof object !== 'object' || object === null) return null;
  const metadata = (object as { metadata?: unknown }).metadata;
  if (typeof metadata !== 'object' || metadata === null) return null;
  (metadata as { resourceVersion?: string }).resourceVersion = kv.mod_revision;
  return object as T;
}

type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

interface EtcdWatchInit<T extends StoredObject> {
  store: EtcdDatastore;
  kind: KindInfo;
  prefix: string;
  selector: SelectorAst | undefined;
  maxBackoffMs: number;
  onProblem: EtcdDatastoreOptions['onWatchProblem'];
  onClose: (watch: EtcdWatch<T>) => void;
}

/** One open watch: an etcd watcher plus the state its consumer has seen. */
class EtcdWatch<T extends StoredObject> implements Watch<T> {
  private readonly init: EtcdWatchInit<T>;
  private queue: WatchEvent<T>[] = [];
  private queueHead = 0;
  private wake: (() => void) | undefined;
  private isClosed = false;
  /** The gRPC Watch stream this watch owns; undefined while relisting or waiting to reconnect. */
  private stream: WatchStream | undefined;
  private reconnectDelayMs = 0;
  /** Back-off between relists after cancels other than compaction; reset once events flow. */
  private cancelDelayMs = 0;
  /** Ends a relist's back-off sleep early (on close). */
  private wakeRelist: (() => void) | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** etcd key → object, as the consumer knows it. */
  private known = new Map<string, T>();
  /** Every event up to this revision has been queued. */
  private lastRevision = 0;

  constructor(init: EtcdWatchInit<T>) {
    this.init = init;
  }

  start(from: ListResult<T> | undefined): void {
    if (from === undefined) {
      // No state yet: the first relist delivers everything as `added`, then `synced`.
      void this.relist('synced');
      return;
    }
    for (const object of from.items) {
      if (isSelected(object, this.init.selector)) {
        this.known.set(etcdKeyOf(this.init.kind, object.metadata.name, object.metadata.namespace), object);
      }
    }
    this.lastRevision = Number(from.revision);
    void this.connect();
  }

  /** Opens a Watch stream of our own that delivers what comes after lastRevision. */
  private async connect(): Promise<void> {
    let stream: WatchStream;
    try {
      stream = await this.init.store.call('watch', () => this.init.store.client.watchClient.watch());
    } catch (error) {
      this.onStreamFailure(undefined, error);
      return;
    }
    if (this.isClosed) {
      stream.cancel();
      return;
    }
    this.stream = stream;
    stream.on('data', (response: IWatchResponse) => this.onStreamResponse(stream, response));
    stream.on('error', (error: Error) => this.onStreamFailure(stream, error));
    stream.on('end', () => this.onStreamFailure(stream, new Error('etcd ended the watch stream')));
    // Start one revision early, at what we already delivered (onResponse skips it again). From
    // lastRevision + 1, a compaction at exactly that revision would go unnoticed: etcd accepts a
    // watch starting at the compaction revision, but compaction removes a tombstone at that
    // revision, so a delete there would never arrive. From lastRevision, etcd reports such a
    // compaction (start < compact revision) and we relist.
    const range = Range.prefix(this.init.prefix);
    stream.write({
      create_request: { key: range.start, range_end: range.end, start_revision: String(this.lastRevision) },
    });
  }

  private onStreamResponse(stream: WatchStream, response: IWatchResponse): void {
    if (this.stream !== stream) return;
    if (response.created && !response.canceled) this.reconnectDelayMs = 0;
    if (response.canceled) {
      // compact_revision set: our start revision is gone. Anything else (a cancel_reason): we
      // can't trust our place either. Relisting gives the exact difference in both cases.
      this.dropStream();
      const isCompacted = response.compact_revision !== '0' && response.compact_revision !== '';
      this.init.onProblem?.({
        reason: 'canceled',
        error: new Error(
          isCompacted
            ? `etcd compacted up to revision ${response.compact_revision}; the watch was at ${this.lastRevision}`
            : `etcd canceled the watch: ${response.cancel_reason}`,
        ),
      });
      if (isCompacted) {
        void this.relist('resynced');
        return;
      }
      // A cancel that relisting will not cure (permissions, a bad range) must not spin: back off.
      this.cancelDelayMs = Math.min(Math.max(this.cancelDelayMs * 2, 50), this.init.maxBackoffMs);
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = undefined;
        if (!this.isClosed) void this.relist('resynced');
      }, this.cancelDelayMs);
      return;
    }
    if (!response.created) {
      if (response.events.length > 0) this.cancelDelayMs = 0;
      this.onResponse(response);
    }
  }

  /** The stream broke (or could not be opened): reconnect after a back-off, resuming where we are. */
  private onStreamFailure(stream: WatchStream | undefined, error: unknown): void {
    if (stream !== undefined && this.stream !== stream) return;
    this.dropStream();
    if (this.isClosed) return;
    this.init.onProblem?.({ reason: 'disconnected', error });
    this.reconnectDelayMs = Math.min(Math.max(this.reconnectDelayMs * 2, 50), this.init.maxBackoffMs);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.isClosed) void this.connect();
    }, this.reconnectDelayMs);
  }

  private dropStream(): void {
    const stream = this.stream;
    this.stream = undefined;
    // Cancelling makes grpc-js emit a CANCELLED error on it, which onStreamFailure ignores: it's no longer ours.
    stream?.cancel();
  }

  private onResponse(response: IWatchResponse): void {
    if (response.canceled || response.created) return;
    const before = this.lastRevision;
    const { selector } = this.init;
    for (const event of response.events) {
      const revision = Number(event.kv.mod_revision);
      // Every (re)connect starts at lastRevision, which was delivered already.
      if (revision <= before) continue;
      const key = event.kv.key.toString();
      const previous = this.known.get(key);
      const at = String(revision);
      if (event.type === 'Put') {
        const object = decodeOrNull<T>(event.kv);
        if (object !== null && isSelected(object, selector)) {
          this.known.set(key, object);
          this.push({ type: previous === undefined ? 'added' : 'modified', object, revision: at });
        } else if (previous !== undefined) {
          // No longer matches the selector (or no longer an object of ours): gone for this consumer.
          this.known.delete(key);
          this.push({ type: 'deleted', object: object ?? previous, revision: at });
        }
      } else if (previous !== undefined) {
        this.known.delete(key);
        this.push({ type: 'deleted', object: previous, revision: at });
      }
      if (revision > this.lastRevision) this.lastRevision = revision;
    }
  }

  /** Lists, queues the difference to the tracked state, then `marker`, then watches on. */
  private async relist(marker: 'synced' | 'resynced'): Promise<void> {
    let delayMs = 50;
    while (!this.isClosed) {
      try {
        const { objects, revision } = await this.init.store.listPrefix<T>(this.init.prefix, this.init.selector);
        if (this.isClosed) return;
        const at = String(revision);
        // The difference in revision order: what was written (by its mod_revision), then what is
        // gone (at the relist's revision, which is the newest of all).
        const changed: WatchEvent<T>[] = [];
        for (const [key, object] of objects) {
          const previous = this.known.get(key);
          const objectRevision = object.metadata.resourceVersion ?? at;
          if (previous === undefined) changed.push({ type: 'added', object, revision: objectRevision });
          else if (previous.metadata.resourceVersion !== objectRevision) changed.push({ type: 'modified', object, revision: objectRevision });
        }
        changed.sort((a, b) => Number(a.revision) - Number(b.revision));
        for (const event of changed) this.push(event);
        for (const [key, object] of [...this.known].sort(byKey)) {
          if (!objects.has(key)) this.push({ type: 'deleted', object, revision: at });
        }
        this.push({ type: marker, revision: at });
        this.known = objects;
        this.lastRevision = revision;
        void this.connect();
        return;
      } catch (error) {
        this.init.onProblem?.({ reason: 'relist-failed', error });
        await new Promise<void>((resolve) => {
          // close() clears this timer and resolves at once, so a closed watch holds no timer.
          this.reconnectTimer = setTimeout(() => {
            this.reconnectTimer = undefined;
            resolve();
          }, delayMs);
          this.wakeRelist = resolve;
        });
        this.wakeRelist = undefined;
        delayMs = Math.min(delayMs * 2, this.init.maxBackoffMs);
      }
    }
  }

  private push(event: WatchEvent<T>): void {
    this.queue.push(event);
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchEvent<T>> {
    return {
      next: async (): Promise<IteratorResult<WatchEvent<T>>> => {
        while (true) {
          if (this.queueHead < this.queue.length) {
            const value = this.queue[this.queueHead++] as WatchEvent<T>;
            if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
              this.queue = this.queue.slice(this.queueHead);
              this.queueHead = 0;
            }
            return { value, done: false };
          }
          if (this.isClosed) return { value: undefined, done: true };
          await new Promise<void>((resolve) => {
            this.wake = resolve;
          });
        }
      },
      return: async (): Promise<IteratorResult<WatchEvent<T>>> => {
        this.close();
        return { value: undefined, done: true };
      },
    };
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.queue = [];
    this.queueHead = 0;
    this.known.clear();
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.wakeRelist?.();
    this.dropStream();
    this.init.onClose(this);
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

function byKey<V>(a: [string, V], b: [string, V]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}
