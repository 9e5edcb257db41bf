import {
  HttpMethod,
  IsomorphicFetchHttpLibrary,
  KubeConfig,
  RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { TortieError } from '../errors.js';
import { parseLabelSelectorString } from '../selector/label-selector.js';
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

/**
 * The `kubernetes` datastore backend (DESIGN.md "Datastore"): tortie kinds as
 * custom resources under /apis/crd.tortie.dev/v1, core kinds (Pods, Nodes,
 * Namespaces, ServiceAccounts, Secrets, NetworkPolicies) read-only, except
 * Namespaces and networking.k8s.io NetworkPolicies, which may be written, and
 * Pods, which may be updated (the CNI plugin records a pod's addresses in its
 * annotations) but never created or deleted: the kubelet owns their lives.
 *
 * @kubernetes/client-node provides the KubeConfig (every auth flavour,
 * in-cluster config, TLS dispatcher) and its HTTP library. Requests are made
 * against plain REST paths with JSON bodies rather than through the generated
 * typed APIs: those turn timestamps into Date objects (we hand back the JSON
 * we were given), and CustomObjectsApi cannot address the core group. Watches
 * are read the same way instead of through client-node's `Watch`, which drops
 * malformed lines without a word and has a private 30 s idle timeout.
 *
 * What this adds over client-node's informer (STYLE.md §1, "In-sync is earned"):
 * - `synced` is emitted only after a list succeeded; a failing first list is
 *   retried with back-off, never reported as in-sync;
 * - any watch failure restarts the watch with back-off (from the last
 *   revision seen), instead of stopping for good;
 * - 410 Gone (HTTP status, or an ERROR event with code 410) relists and
 *   delivers the difference against what the consumer has been told, as
 *   added/modified/deleted events followed by `resynced`.
 */

export interface KubernetesDatastoreOptions {
  /** A kubeconfig file; without it: $KUBECONFIG, then ~/.kube/config, then the pod's service account (in-cluster). */
  kubeconfigPath?: string;
  /** An already loaded KubeConfig (wins over kubeconfigPath). */
  kubeConfig?: KubeConfig;
  /** Deadline of one non-watch request. */
  requestTimeoutMs?: number;
  /**
   * Each watch request asks the server to end it after between this and twice
   * this many seconds (`timeoutSeconds`, spread as client-go's reflector does so
   * that a fleet's watches don't all reconnect at once); we then resume.
   */
  watchTimeoutSec?: number;
  /** Back-off between failed list/watch attempts: doubles from initial up to max. */
  retryDelayMs?: { initial: number; max: number };
  logger?: Logger;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_WATCH_TIMEOUT_SEC = 300; // 5 to 10 minutes, as client-go's reflector
const DEFAULT_RETRY_DELAY_MS = { initial: 200, max: 10_000 };
/** A watch that ends sooner than this having delivered nothing counts as a failure, so we never spin. */
const MIN_HEALTHY_WATCH_MS = 1_000;

/** Core kinds this backend may write; every other core kind is read-only here. */
const WRITABLE_CORE_KINDS = new Set(['v1/Namespace', 'networking.k8s.io/v1/NetworkPolicy']);
/** Core kinds this backend may only update: the CNI plugin's address annotations on Pods. */
const UPDATABLE_CORE_KINDS = new Set(['v1/Pod']);

const CLIENT_NODE_FALLBACK_SERVER = 'http://localhost:8080';

export function createKubernetesDatastore(options: KubernetesDatastoreOptions = {}): KubernetesDatastore {
  let kubeConfig = options.kubeConfig;
  if (kubeConfig === undefined) {
    kubeConfig = new KubeConfig();
    try {
      if (options.kubeconfigPath !== undefined) kubeConfig.loadFromFile(options.kubeconfigPath);
      else kubeConfig.loadFromDefault();
    } catch (cause) {
      throw new TortieError('ERR_CONFIG_INVALID', `cannot load kubeconfig ${options.kubeconfigPath ?? '(default)'}: ${String(cause)}`, { cause });
    }
    // Finding nothing, client-node makes up http://localhost:8080, which it then refuses to use.
    if (options.kubeconfigPath === undefined && kubeConfig.getCurrentCluster()?.server === CLIENT_NODE_FALLBACK_SERVER) {
      throw new TortieError(
        'ERR_CONFIG_INVALID',
        'no kubeconfig: set KUBECONFIG, create ~/.kube/config, or run in a pod with a service account',
      );
    }
  }
  return new KubernetesDatastore(kubeConfig, options);
}

/** Kubernetes' `Status` object, as the API server answers errors. */
interface KubeStatus {
  kind?: string;
  code?: number;
  reason?: string;
  message?: string;
  /**
   * Which object (`name`; absent when the path names no resource type the
   * server serves) and, for 422 Invalid, one cause per field (`field` is the
   * path, e.g. `spec.cidr`).
   */
  details?: { name?: string; causes?: { field?: string; message?: string }[] };
}

interface RestResponse {
  status: number;
  body: unknown;
}

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

/** How long one connection pool (TLS settings) serves before KubeConfig's are taken afresh (rotated client certs). */
const DISPATCHER_MAX_AGE_MS = 10 * 60_000;

/** Thin REST layer: KubeConfig auth + client-node's HTTP library, JSON in and out. */
class KubernetesRestClient {
  private readonly http = new IsomorphicFetchHttpLibrary();
  readonly server: string;
  private dispatcher: { value: Dispatcher; createdAt: number } | undefined;

  constructor(
    private readonly kubeConfig: KubeConfig,
    private readonly requestTimeoutMs: number,
  ) {
    const cluster = kubeConfig.getCurrentCluster();
    if (cluster === null) throw new TortieError('ERR_CONFIG_INVALID', 'kubeconfig has no current cluster');
    this.server = cluster.server.replace(/\/+$/, '');
  }

  async send(method: HttpMethod, path: string, query: Record<string, string>, body: unknown, signal: AbortSignal): Promise<ResponseContext> {
    const url = new URL(this.server + path);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
    const ctx = new RequestContext(url.toString(), method);
    try {
      // Token files are re-read and exec plugins re-run here, so credentials that rotate keep working.
      await this.kubeConfig.applySecurityAuthentication(ctx);
    } catch (cause) {
      throw new TortieError('ERR_DATASTORE_UNAVAILABLE', `kubernetes API ${this.server}: cannot authenticate: ${describeNetworkError(cause)}`, { cause });
    }
    this.reuseDispatcher(ctx);
    ctx.setHeaderParam('Accept', 'application/json');
    if (body !== undefined) {
      ctx.setHeaderParam('Content-Type', 'application/json');
      ctx.setBody(JSON.stringify(body));
    }
    ctx.setSignal(signal);
    try {
      return await this.http.send(ctx).toPromise();
    } catch (cause) {
      throw new TortieError('ERR_DATASTORE_UNAVAILABLE', `kubernetes API ${this.server} unreachable: ${describeNetworkError(cause)}`, {
        cause,
        details: { method, path },
      });
    }
  }

  /**
   * KubeConfig hands every request a new undici Agent (whenever TLS options
   * are set, i.e. on every real cluster), so each request would open its own
   * TCP connection and TLS handshake and leave the socket behind (1,000
   * creates against the test server left ~3,000 sockets in TIME-WAIT; with
   * one Agent, none). We keep one Agent, so connections are pooled and kept
   * alive, and take a fresh one now and then. A replaced Agent is closed
   * gracefully: requests on it (watch streams) run to their end.
   */
  private reuseDispatcher(ctx: RequestContext): void {
    const fresh = ctx.getDispatcher();
    if (fresh === undefined) return;
    const current = this.dispatcher;
    if (current !== undefined && Date.now() - current.createdAt < DISPATCHER_MAX_AGE_MS) {
      ctx.setDispatcher(current.value);
      fresh.close().catch(ignoreCloseError);
      return;
    }
    this.dispatcher = { value: fresh, createdAt: Date.now() };
    current?.value.close().catch(ignoreCloseError);
  }

  /** Closes the pooled connections once every request on them has ended. */
  async close(): Promise<void> {
    const current = this.dispatcher;
    this.dispatcher = undefined;
    await current?.value.close();
  }

  /** One request with a deadline (`requestTimeoutMs`), also ended by `signal`. */
  async request(method: HttpMethod, path: string, query: Record<string, string> = {}, body?: unknown, signal?: AbortSignal): Promise<RestResponse> {
    const deadline = AbortSignal.timeout(this.requestTimeoutMs);
    const response = await this.send(method, path, query, body, signal === undefined ? deadline : AbortSignal.any([deadline, signal]));
    let text: string;
    try {
      text = await response.body.text();
    } catch (cause) {
      throw new TortieError('ERR_DATASTORE_UNAVAILABLE', `kubernetes API ${this.server}: reading the response failed`, { cause });
    }
    let parsed: unknown = undefined;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch (cause) {
        // Proxies and load balancers answer 5xx with HTML; the status code is what matters then.
        if (response.httpStatusCode < 300) {
          throw new TortieError('ERR_DATASTORE_UNAVAILABLE', `kubernetes API ${this.server}: response to ${method} ${path} is not JSON`, { cause });
        }
        parsed = { message: text.slice(0, 200) };
      }
    }
    return { status: response.httpStatusCode, body: parsed };
  }
}

/** Closing an undici Agent fails only when it is already closed or destroyed: nothing is left to clean up. */
function ignoreCloseError(_err: unknown): void {}

function describeNetworkError(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause;
    if (cause instanceof Error) return `${err.message}: ${(cause as NodeJS.ErrnoException).code ?? cause.message}`;
    return err.message;
  }
  return String(err);
}

function asStatus(body: unknown): KubeStatus {
  return typeof body === 'object' && body !== null ? (body as KubeStatus) : {};
}

type Operation = 'get' | 'list' | 'watch' | 'create' | 'update' | 'delete';

/**
 * A 404 that is about the resource type, not an object: the API server names
 * the missing object in `details.name` (or the missing namespace, on create);
 * a path it does not serve at all (a CRD not installed) gets no details.
 */
function isUnservedResource(response: RestResponse): boolean {
  const status = asStatus(response.body);
  return response.status === 404 && status.reason === 'NotFound' && (status.details?.name ?? '') === '';
}

/** Maps an HTTP error answer to our error codes (types.ts documents them). */
function errorFromResponse(op: Operation, kind: KindInfo, name: string | undefined, response: RestResponse): TortieError {
  const status = asStatus(response.body);
  const what = name === undefined ? kind.plural : `${kind.kind} ${name}`;
  const detail = status.message ?? `HTTP ${response.status}`;
  const details = { status: response.status, reason: status.reason, op };
  switch (response.status) {
    case 404:
      if (isUnservedResource(response)) {
        const served = groupOf(kind) === '' ? kind.plural : `${kind.plural}.${groupOf(kind)}`;
        const hint = kind.isTortieKind ? ": are tortie's CRDs installed? (kubectl apply -f manifests/crds/)" : '';
        return new TortieError('ERR_DATASTORE_UNSUPPORTED', `the API server does not serve ${served}${hint}`, { details });
      }
      return new TortieError('ERR_DATASTORE_NOT_FOUND', `${what} not found: ${detail}`, { details });
    case 409:
      if (op === 'create' || status.reason === 'AlreadyExists') {
        return new TortieError('ERR_DATASTORE_ALREADY_EXISTS', `${what} already exists: ${detail}`, { details });
      }
      return new TortieError('ERR_DATASTORE_CONFLICT', `${what} was changed concurrently: ${detail}`, { details });
    case 410:
      return new TortieError('ERR_DATASTORE_COMPACTED', `${what}: resource version too old: ${detail}`, { details });
    case 400:
    case 422: {
      // ERR_VALIDATION's details.issues is [{ path, message }] everywhere (docs/ERRORS.md).
      const issues = (status.details?.causes ?? []).map((c) => ({ path: c.field ?? '', message: c.message ?? '' }));
      return new TortieError('ERR_VALIDATION', `${op} ${what} rejected by the API server: ${detail}`, { details: { ...details, issues } });
    }
    default:
      // 401/403 land here too: nothing the caller can fix by changing the request, retry after RBAC is fixed.
      return new TortieError('ERR_DATASTORE_UNAVAILABLE', `${op} ${what} failed: ${detail}`, { details });
  }
}

/** REST path of a kind's collection or of one object. */
export function resourcePath(kind: KindInfo, namespace?: string, name?: string): string {
  const group = groupOf(kind);
  let path = group === '' ? `/api/${kind.apiVersion}` : `/apis/${kind.apiVersion}`;
  if (kind.namespaced && namespace !== undefined) path += `/namespaces/${encodeURIComponent(namespace)}`;
  path += `/${kind.plural}`;
  if (name !== undefined) path += `/${encodeURIComponent(name)}`;
  return path;
}

function objectKey(object: StoredObject): string {
  return `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
}

function isStoredObject(value: unknown): value is StoredObject {
  if (typeof value !== 'object' || value === null) return false;
  const metadata = (value as { metadata?: unknown }).metadata;
  return typeof metadata === 'object' && metadata !== null && typeof (metadata as { name?: unknown }).name === 'string';
}

/** Core-kind list items come without apiVersion/kind; fill them in so every object names its kind. */
function withTypeMeta<T extends StoredObject>(kind: KindInfo, object: StoredObject): T {
  return { ...object, apiVersion: kind.apiVersion, kind: kind.kind } as T;
}

/**
 * The `labelSelector` query parameter, if there is a selector. A malformed one
 * fails here, with the column, as it does in the etcd backend
 * (ERR_SELECTOR_SYNTAX), rather than as the API server's 400 after a round trip.
 */
function labelSelectorParameter(text: string | undefined): string | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const parsed = parseLabelSelectorString(text);
  if (!parsed.ok) {
    throw new TortieError('ERR_SELECTOR_SYNTAX', `labelSelector ${JSON.stringify(text)}: ${parsed.error.message} at column ${parsed.error.column}`, {
      details: { column: parsed.error.column },
    });
  }
  return text;
}

function checkWritable(kind: KindInfo, op: Operation): void {
  const key = `${kind.apiVersion}/${kind.kind}`;
  if (kind.isTortieKind || WRITABLE_CORE_KINDS.has(key) || (op === 'update' && UPDATABLE_CORE_KINDS.has(key))) return;
  throw new TortieError('ERR_DATASTORE_UNSUPPORTED', `${op} ${kind.kind}: the kubernetes datastore only reads ${kind.apiVersion} ${kind.kind}; Kubernetes itself owns it`);
}

function namespaceOf(kind: KindInfo, object: StoredObject | undefined, namespace: string | undefined, op: Operation): string | undefined {
  if (!kind.namespaced) return undefined;
  const ns = namespace ?? object?.metadata.namespace;
  if (ns === undefined || ns === '') {
    throw new TortieError('ERR_VALIDATION', `metadata.namespace: ${kind.kind} is namespaced; give a namespace`, {
      details: { op, issues: [{ path: 'metadata.namespace', message: 'required' }] },
    });
  }
  return ns;
}

export class KubernetesDatastore implements Datastore {
  readonly type = 'kubernetes' as const;
  private readonly client: KubernetesRestClient;
  private readonly watches = new Set<ResourceWatch<StoredObject>>();
  private readonly log: Logger;
  private readonly watchTimeoutSec: number;
  private readonly retryDelayMs: { initial: number; max: number };

  constructor(kubeConfig: KubeConfig, options: KubernetesDatastoreOptions = {}) {
    this.client = new KubernetesRestClient(kubeConfig, options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'datastore.kubernetes' });
    this.watchTimeoutSec = options.watchTimeoutSec ?? DEFAULT_WATCH_TIMEOUT_SEC;
    this.retryDelayMs = options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
  }

  /** The API server this datastore talks to. */
  get server(): string {
    return this.client.server;
  }

  async get<T extends StoredObject = StoredObject>(kind: KindInfo, name: string, namespace?: string): Promise<T | null> {
    const ns = namespaceOf(kind, undefined, namespace, 'get');
    const response = await this.client.request(HttpMethod.GET, resourcePath(kind, ns, name));
    if (response.status === 404 && !isUnservedResource(response)) return null;
    if (response.status !== 200 || !isStoredObject(response.body)) throw errorFromResponse('get', kind, name, response);
    return withTypeMeta<T>(kind, response.body);
  }

  list<T extends StoredObject = StoredObject>(kind: KindInfo, options: ListOptions = {}): Promise<ListResult<T>> {
    return this.listWithSignal<T>(kind, options);
  }

  private async listWithSignal<T extends StoredObject>(kind: KindInfo, options: ListOptions, signal?: AbortSignal): Promise<ListResult<T>> {
    const query: Record<string, string> = {};
    const labelSelector = labelSelectorParameter(options.labelSelector);
    if (labelSelector !== undefined) query.labelSelector = labelSelector;
    const response = await this.client.request(HttpMethod.GET, resourcePath(kind, options.namespace), query, undefined, signal);
    const body = response.body as { items?: unknown; metadata?: { resourceVersion?: unknown } } | undefined;
    if (response.status !== 200 || !Array.isArray(body?.items) || typeof body.metadata?.resourceVersion !== 'string') {
      throw errorFromResponse('list', kind, undefined, response);
    }
    const items = body.items.filter(isStoredObject).map((item) => withTypeMeta<T>(kind, item));
    return { items, revision: body.metadata.resourceVersion };
  }

  watch<T extends StoredObject = StoredObject>(kind: KindInfo, options: WatchOptions<T> = {}): Watch<T> {
    labelSelectorParameter(options.labelSelector);
    const watch = new ResourceWatch<T>({
      kind,
      options,
      list: (signal) => this.listWithSignal<T>(kind, options, signal),
      open: (revision, signal) => this.openWatchStream(kind, options, revision, signal),
      retryDelayMs: this.retryDelayMs,
      // Bookmarks or the server's own timeoutSeconds end a healthy stream long before this;
      // silence past it means a dead connection that TCP has not noticed.
      idleTimeoutMs: (2 * this.watchTimeoutSec + 60) * 1000,
      log: this.log.child({ kind: kind.kind, namespace: options.namespace, labelSelector: options.labelSelector }),
      onClose: () => this.watches.delete(watch as unknown as ResourceWatch<StoredObject>),
    });
    this.watches.add(watch as unknown as ResourceWatch<StoredObject>);
    watch.start();
    return watch;
  }

  async create<T extends StoredObject>(kind: KindInfo, object: T): Promise<T> {
    checkWritable(kind, 'create');
    const ns = namespaceOf(kind, object, undefined, 'create');
    // The API server refuses a create that carries a resourceVersion; the writer never owns it anyway.
    const { resourceVersion: _ignored, ...metadata } = object.metadata;
    const body = { ...object, apiVersion: kind.apiVersion, kind: kind.kind, metadata };
    const response = await this.client.request(HttpMethod.POST, resourcePath(kind, ns), {}, body);
    if ((response.status !== 200 && response.status !== 201) || !isStoredObject(response.body)) {
      throw errorFromResponse('create', kind, object.metadata.name, response);
    }
    return withTypeMeta<T>(kind, response.body);
  }

  async update<T extends StoredObject>(kind: KindInfo, object: T): Promise<T> {
    checkWritable(kind, 'update');
    const ns = namespaceOf(kind, object, undefined, 'update');
    if (object.metadata.resourceVersion === undefined || object.metadata.resourceVersion === '') {
      throw new TortieError(
        'ERR_VALIDATION',
        `metadata.resourceVersion: missing; update is compare-and-swap: get the object first, or use create for a new one`,
        { details: { issues: [{ path: 'metadata.resourceVersion', message: 'required' }] } },
      );
    }
    const body = { ...object, apiVersion: kind.apiVersion, kind: kind.kind };
    const response = await this.client.request(HttpMethod.PUT, resourcePath(kind, ns, object.metadata.name), {}, body);
    if (response.status !== 200 || !isStoredObject(response.body)) throw errorFromResponse('update', kind, object.metadata.name, response);
    return withTypeMeta<T>(kind, response.body);
  }

  async delete<T extends StoredObject = StoredObject>(kind: KindInfo, name: string, namespace?: string, options: DeleteOptions = {}): Promise<T> {
    checkWritable(kind, 'delete');
    const ns = namespaceOf(kind, undefined, namespace, 'delete');
    const body: Record<string, unknown> = { apiVersion: 'v1', kind: 'DeleteOptions' };
    if (options.resourceVersion !== undefined) body.preconditions = { resourceVersion: options.resourceVersion };
    const response = await this.client.request(HttpMethod.DELETE, resourcePath(kind, ns, name), {}, body);
    if (response.status !== 200 && response.status !== 202) throw errorFromResponse('delete', kind, name, response);
    // Custom resources and most core kinds answer with the object; a few answer with a Status.
    if (isStoredObject(response.body) && (response.body as StoredObject).kind !== 'Status') return withTypeMeta<T>(kind, response.body);
    return withTypeMeta<T>(kind, { apiVersion: kind.apiVersion, kind: kind.kind, metadata: ns === undefined ? { name } : { name, namespace: ns } });
  }

  async close(): Promise<void> {
    for (const watch of [...this.watches]) watch.close();
    await this.client.close();
  }

  private async openWatchStream(kind: KindInfo, options: ListOptions, revision: string, signal: AbortSignal): Promise<WatchStreamOpen> {
    const query: Record<string, string> = {
      watch: 'true',
      resourceVersion: revision,
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(Math.round(this.watchTimeoutSec * (1 + Math.random()))),
    };
    const labelSelector = labelSelectorParameter(options.labelSelector);
    if (labelSelector !== undefined) query.labelSelector = labelSelector;
    const response = await this.client.send(HttpMethod.GET, resourcePath(kind, options.namespace), query, undefined, signal);
    if (response.httpStatusCode === 410) return { kind: 'expired' };
    if (response.httpStatusCode !== 200) {
      const text = await response.body.text().catch((err: unknown) => String(err));
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON (a proxy's HTML page): keep the text as the message.
        body = { message: text.slice(0, 200) };
      }
      throw errorFromResponse('watch', kind, undefined, { status: response.httpStatusCode, body });
    }
    const stream = response.body.stream();
    if (stream === null) throw new TortieError('ERR_DATASTORE_UNAVAILABLE', `watch ${kind.plural}: response has no body`);
    return { kind: 'stream', stream, toObject: (value) => withTypeMeta(kind, value) };
  }
}

type WatchStreamOpen =
  | { kind: 'expired' }
  | { kind: 'stream'; stream: ReadableStream<Uint8Array>; toObject: (value: StoredObject) => StoredObject };

/** One decoded line of a Kubernetes watch stream. */
interface RawWatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: unknown;
}

/** How one watch request ended. */
type WatchOutcome = { kind: 'ended'; healthy: boolean } | { kind: 'expired' } | { kind: 'failed'; error: unknown };

interface ResourceWatchParams<T extends StoredObject> {
  kind: KindInfo;
  options: WatchOptions<T>;
  list: (signal: AbortSignal) => Promise<ListResult<T>>;
  open: (revision: string, signal: AbortSignal) => Promise<WatchStreamOpen>;
  retryDelayMs: { initial: number; max: number };
  idleTimeoutMs: number;
  log: Logger;
  onClose: () => void;
}

/**
 * list + watch, resumed and relisted as needed, delivered as one async
 * iterable. It tracks the state the consumer has been told (`known`), so that a
 * relist after 410 can be delivered as the exact difference. Events buffer
 * without bound if the consumer does not read them (as in the etcd backend).
 */
class ResourceWatch<T extends StoredObject> implements Watch<T> {
  private readonly queue: WatchEvent<T>[] = [];
  private wake: (() => void) | null = null;
  private readonly abort = new AbortController();
  private readonly known = new Map<string, T>();
  private revision = '';
  private consecutiveFailures = 0;

  constructor(private readonly params: ResourceWatchParams<T>) {}

  get isClosed(): boolean {
    return this.abort.signal.aborted;
  }

  start(): void {
    this.run().catch((err: unknown) => {
      // run() handles every failure itself; reaching here is a bug, so say it loudly and end the watch.
      this.params.log.error({ err }, 'watch loop crashed');
      this.close();
    });
  }

  close(): void {
    if (this.isClosed) return;
    this.abort.abort(new TortieError('ERR_DATASTORE_UNAVAILABLE', 'watch closed'));
    this.params.onClose();
    this.notify();
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchEvent<T>> {
    return {
      next: async (): Promise<IteratorResult<WatchEvent<T>>> => {
        for (;;) {
          if (this.isClosed) return { done: true, value: undefined };
          const event = this.queue.shift();
          if (event !== undefined) return { done: false, value: event };
          await new Promise<void>((resolve) => {
            this.wake = resolve;
          });
        }
      },
      return: async (): Promise<IteratorResult<WatchEvent<T>>> => {
        this.close();
        return { done: true, value: undefined };
      },
    };
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private emit(event: WatchEvent<T>): void {
    if (this.isClosed) return;
    this.queue.push(event);
    this.notify();
  }

  private async run(): Promise<void> {
    const from = this.params.options.from;
    if (from !== undefined) {
      for (const item of from.items) this.known.set(objectKey(item), item);
      this.revision = from.revision;
    } else {
      const list = await this.listWithRetry();
      if (list === null) return;
      for (const item of list.items) {
        this.known.set(objectKey(item), item);
        this.emit({ type: 'added', object: item, revision: item.metadata.resourceVersion ?? list.revision });
      }
      this.revision = list.revision;
      this.emit({ type: 'synced', revision: list.revision });
      this.params.log.info({ revision: list.revision, count: list.items.length }, 'watch in sync');
    }

    while (!this.isClosed) {
      const outcome = await this.watchOnce();
      if (this.isClosed) return;
      if (outcome.kind === 'expired') {
        this.params.log.info({ revision: this.revision }, 'watch expired, relisting');
        if (!(await this.resync())) return;
      } else if (outcome.kind === 'ended' && outcome.healthy) {
        this.recovered();
      } else {
        this.consecutiveFailures += 1;
        const delayMs = this.backoffMs();
        const err = outcome.kind === 'failed' ? outcome.error : undefined;
        this.params.log.warn({ err, revision: this.revision, delayMs, failures: this.consecutiveFailures }, 'watch failed, will retry');
        if (!(await this.sleep(delayMs))) return;
      }
    }
  }

  /** Relists and delivers the difference against `known`, then `resynced`. False if closed meanwhile. */
  private async resync(): Promise<boolean> {
    const list = await this.listWithRetry();
    if (list === null) return false;
    const fresh = new Map(list.items.map((item) => [objectKey(item), item] as const));
    for (const [key, item] of fresh) {
      const before = this.known.get(key);
      const revision = item.metadata.resourceVersion ?? list.revision;
      if (before === undefined) this.emit({ type: 'added', object: item, revision });
      else if (before.metadata.resourceVersion !== item.metadata.resourceVersion) this.emit({ type: 'modified', object: item, revision });
    }
    for (const [key, item] of this.known) {
      if (!fresh.has(key)) this.emit({ type: 'deleted', object: item, revision: list.revision });
    }
    this.known.clear();
    for (const [key, item] of fresh) this.known.set(key, item);
    this.revision = list.revision;
    this.emit({ type: 'resynced', revision: list.revision });
    this.params.log.info({ revision: list.revision, count: list.items.length }, 'watch resynced');
    return true;
  }

  private async listWithRetry(): Promise<ListResult<T> | null> {
    while (!this.isClosed) {
      try {
        const list = await this.params.list(this.abort.signal);
        this.recovered();
        return list;
      } catch (err) {
        if (this.isClosed) return null;
        this.consecutiveFailures += 1;
        const delayMs = this.backoffMs();
        this.params.log.warn({ err, delayMs, failures: this.consecutiveFailures }, 'list failed, will retry');
        if (!(await this.sleep(delayMs))) return null;
      }
    }
    return null;
  }

  private recovered(): void {
    if (this.consecutiveFailures > 0) this.params.log.info({ failures: this.consecutiveFailures }, 'watch recovered');
    this.consecutiveFailures = 0;
  }

  private backoffMs(): number {
    const { initial, max } = this.params.retryDelayMs;
    const exponential = Math.min(max, initial * 2 ** Math.min(this.consecutiveFailures - 1, 30));
    // Jitter keeps a fleet of nodes from retrying in lockstep after an API server restart.
    return Math.round(exponential * (0.8 + Math.random() * 0.4));
  }

  /** Waits unless closed first; false when closed. */
  private sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.isClosed) return resolve(false);
      const onAbort = (): void => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        this.abort.signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      this.abort.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** One watch request from `this.revision`, applying its events until it ends. */
  private async watchOnce(): Promise<WatchOutcome> {
    const startedAt = Date.now();
    let delivered = false;
    const request = new AbortController();
    const onClose = (): void => request.abort();
    this.abort.signal.addEventListener('abort', onClose, { once: true });
    let idleTimer: NodeJS.Timeout | undefined;
    const resetIdleTimer = (): void => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => request.abort(new TortieError('ERR_DATASTORE_UNAVAILABLE', `watch idle for ${this.params.idleTimeoutMs} ms`)), this.params.idleTimeoutMs);
    };
    try {
      resetIdleTimer();
      const opened = await this.params.open(this.revision, request.signal);
      if (opened.kind === 'expired') return { kind: 'expired' };
      const decoder = new TextDecoder();
      let buffered = '';
      for await (const chunk of opened.stream) {
        resetIdleTimer();
        buffered += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line === '') continue;
          const result = this.applyLine(line, opened.toObject);
          if (result === 'expired') return { kind: 'expired' };
          if (result instanceof Error) return { kind: 'failed', error: result };
          delivered = true;
        }
      }
      return { kind: 'ended', healthy: delivered || Date.now() - startedAt >= MIN_HEALTHY_WATCH_MS };
    } catch (error) {
      return { kind: 'failed', error };
    } finally {
      clearTimeout(idleTimer);
      this.abort.signal.removeEventListener('abort', onClose);
      request.abort();
    }
  }

  /** Applies one watch line to `known` and the consumer; 'expired' on 410, an Error on anything unusable. */
  private applyLine(line: string, toObject: (value: StoredObject) => StoredObject): 'ok' | 'expired' | Error {
    let event: RawWatchEvent;
    try {
      event = JSON.parse(line) as RawWatchEvent;
    } catch (cause) {
      return new TortieError('ERR_DATASTORE_UNAVAILABLE', `watch ${this.params.kind.plural}: undecodable line`, { cause, details: { line: line.slice(0, 200) } });
    }
    if (event.type === 'ERROR') {
      const status = asStatus(event.object);
      if (status.code === 410) return 'expired';
      return errorFromResponse('watch', this.params.kind, undefined, { status: status.code ?? 500, body: status });
    }
    if (event.type === 'BOOKMARK') {
      // A bookmark's object carries only metadata.resourceVersion (no name): where to resume from.
      const revision = (event.object as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
      if (typeof revision === 'string' && revision !== '') this.revision = revision;
      return 'ok';
    }
    if (!isStoredObject(event.object)) {
      return new TortieError('ERR_DATASTORE_UNAVAILABLE', `watch ${this.params.kind.plural}: ${event.type} event without an object`);
    }
    const revision = event.object.metadata.resourceVersion;
    const object = toObject(event.object) as T;
    const key = objectKey(object);
    const eventRevision = revision ?? this.revision;
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED': {
        // After a resume the server may say ADDED for what we already know; the consumer's view decides.
        const type = this.known.has(key) ? 'modified' : 'added';
        this.known.set(key, object);
        this.emit({ type, object, revision: eventRevision });
        break;
      }
      case 'DELETED':
        this.known.delete(key);
        this.emit({ type: 'deleted', object, revision: eventRevision });
        break;
      default:
        return new TortieError('ERR_DATASTORE_UNAVAILABLE', `watch ${this.params.kind.plural}: unknown event type ${String(event.type)}`);
    }
    this.revision = eventRevision;
    return 'ok';
  }
}
