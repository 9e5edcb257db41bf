/**
 * A small Kubernetes API server for testing the `kubernetes` datastore backend.
 *
 * It exists because no real kube-apiserver can be installed on this machine
 * (DESIGN.md "Datastore"); the backend is also run against a real cluster
 * whenever KUBECONFIG is set. It serves the kinds of lib/datastore/kinds.ts
 * (`Kinds`), core ones under /api/v1 and /apis/networking.k8s.io/v1, tortie's
 * under /apis/crd.tortie.dev/v1, namespaced and cluster-scoped, over plain
 * HTTP on 127.0.0.1 with no authentication.
 *
 * Kubernetes semantics it keeps:
 * - one global resourceVersion counter; every write takes the next value,
 *   a list carries the counter in `metadata.resourceVersion`;
 * - POST: 201 with uid/creationTimestamp/generation/resourceVersion set,
 *   409 AlreadyExists (a Status object) for a taken name, 400 if the body
 *   carries a resourceVersion;
 * - PUT: 422 without metadata.resourceVersion, 409 Conflict when it is stale,
 *   404 when the object is gone; an update that changes nothing is a no-op
 *   (same resourceVersion, no event), as in the real API server;
 * - DELETE: DeleteOptions `preconditions.resourceVersion`/`uid` in the body,
 *   409 Conflict when they do not hold; the DELETED event carries the
 *   deletion's resourceVersion;
 * - `?labelSelector=` in Kubernetes' string syntax, on lists and watches; on a
 *   filtered watch an object that stops matching is DELETED and one that
 *   starts matching is ADDED;
 * - `?watch=true&resourceVersion=N`: newline-delimited JSON events
 *   (ADDED/MODIFIED/DELETED/BOOKMARK/ERROR) after N; without N (or N=0) the
 *   current objects first as ADDED; `allowWatchBookmarks`, `timeoutSeconds`;
 * - a bounded event history: a watch from before its window gets HTTP 200
 *   and one ERROR event with a Status of code 410 (reason Expired), then the
 *   stream ends, as the real API server does after etcd compaction;
 * - errors are Status objects whose details name the object (NotFound,
 *   AlreadyExists, Conflict) or the fields (422 causes); a path that names no
 *   served resource type is a 404 without details (`unservedKinds` makes a
 *   kind look like a CRD that is not installed);
 * - optionally (`requireNamespaces`), 404 for a create in a missing Namespace.
 * Not kept: admission, defaulting, schemas, finalizers and graceful deletion,
 * subresources, pagination, field selectors.
 *
 * Who asked: a kubeconfig written with `user` sends that name as its bearer
 * token, and `requests` records every request as the RBAC verb, API group
 * and resource it needs (`apiRequest`), so a test can check a ClusterRole
 * against what a component really did (test/harness/rbac.ts).
 *
 * Test hooks: compact() (drop the history), dropWatches() (end every watch
 * stream, as an API server restart does), failNextRequests(n, status),
 * bookmarksSent and watchRequests (to wait for a bookmark or a reconnect),
 * stop()/restart() (connection refused in between, state kept), put()/remove()
 * (writes that bypass HTTP, so state can change while the server is stopped).
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { allKinds, groupOf, Kinds, type KindInfo } from '../../lib/datastore/kinds.js';
import type { StoredObject } from '../../lib/datastore/types.js';
import type { SelectorAst } from '../../lib/selector/ast.js';
import { parseLabelSelectorString } from '../../lib/selector/label-selector.js';
import { matchSelector } from '../../lib/selector/match.js';

export interface FakeApiServerOptions {
  /** Events kept for watches from an older resourceVersion; older ones get 410 Gone. */
  historyLimit?: number;
  /** How often a watch that asked for bookmarks gets one. */
  bookmarkIntervalMs?: number;
  /** Refuse (404) to create a namespaced object whose Namespace does not exist, as a real cluster does. */
  requireNamespaces?: boolean;
  /** Kinds answered with 404 on every path, as a cluster without tortie's CRDs answers. */
  unservedKinds?: readonly KindInfo[];
}

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface HistoryEntry {
  revision: number;
  kind: KindInfo;
  type: EventType;
  object: StoredObject;
  /** The object before a MODIFIED, to tell a filtered watch whether it used to match. */
  previous?: StoredObject;
}

interface Watcher {
  kind: KindInfo;
  namespace: string | undefined;
  selector: SelectorAst | undefined;
  response: ServerResponse;
}

/** One request as RBAC sees it: `user` is the bearer token ('' without one); `resource` null for a path that names none. */
export interface RecordedRequest {
  readonly user: string;
  readonly verb: string;
  readonly group: string;
  readonly resource: string | null;
  /** The namespace in the path (null: cluster-wide, or a cluster-scoped kind). */
  readonly namespace: string | null;
  readonly path: string;
}

interface Route {
  kind: KindInfo;
  namespace: string | undefined;
  name: string | undefined;
}

/** Status.details: which object (NotFound, AlreadyExists, Conflict) or which fields (422 Invalid, in causes). */
interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: { field: string; message: string }[];
}

class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details: StatusDetails = {},
  ) {
    super(message);
  }
}

/** The 404 for a path that names no resource type this server serves (a CRD that is not installed). */
const notServed = (): HttpError => new HttpError(404, 'NotFound', 'the server could not find the requested resource');

export class FakeApiServer {
  private server: Server | undefined;
  private portNumber = 0;
  /** etcd's revisions start at 1, so no list says "0", which a watch would read as "from any point". */
  private revision = 1;
  /** Highest revision whose event is no longer in the history. */
  private compactedRevision = 1;
  private readonly history: HistoryEntry[] = [];
  private readonly objects = new Map<KindInfo, Map<string, StoredObject>>();
  private readonly watchers = new Set<Watcher>();
  private failures: { remaining: number; status: number } = { remaining: 0, status: 503 };
  private readonly historyLimit: number;
  private readonly bookmarkIntervalMs: number;
  private readonly requireNamespaces: boolean;
  private readonly unservedKinds: ReadonlySet<KindInfo>;
  private bookmarks = 0;
  private watchCount = 0;
  /** Every request so far, in order (see RecordedRequest). */
  readonly requests: RecordedRequest[] = [];

  private constructor(options: FakeApiServerOptions) {
    this.historyLimit = options.historyLimit ?? 1000;
    this.bookmarkIntervalMs = options.bookmarkIntervalMs ?? 1000;
    this.requireNamespaces = options.requireNamespaces ?? false;
    this.unservedKinds = new Set(options.unservedKinds ?? []);
  }

  static async start(options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const api = new FakeApiServer(options);
    await api.listen(0);
    return api;
  }

  get url(): string {
    return `http://127.0.0.1:${this.portNumber}`;
  }

  /** Watch requests served so far (a test waits for a reconnect). */
  get watchRequests(): number {
    return this.watchCount;
  }

  /** Bookmarks sent so far, over all watches (a test waits for one to know it was sent). */
  get bookmarksSent(): number {
    return this.bookmarks;
  }

  get port(): number {
    return this.portNumber;
  }

  get currentRevision(): string {
    return String(this.revision);
  }

  /**
   * Writes a kubeconfig for this server (plain http, no auth) and returns its
   * path. `server` points it elsewhere, e.g. at a proxy in front of this server;
   * `user` is sent as the bearer token and names the caller in `requests`.
   */
  async writeKubeconfig(dir: string, options: { server?: string; fileName?: string; user?: string } = {}): Promise<string> {
    const path = join(dir, options.fileName ?? 'kubeconfig');
    const yaml = [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      // client-node refuses plain http unless TLS verification is off (there is no TLS to verify).
      `- name: fake\n  cluster:\n    server: ${options.server ?? this.url}\n    insecure-skip-tls-verify: true`,
      'users:',
      options.user === undefined ? '- name: fake\n  user: {}' : `- name: fake\n  user:\n    token: ${options.user}`,
      'contexts:',
      '- name: fake\n  context:\n    cluster: fake\n    user: fake',
      'current-context: fake',
      '',
    ].join('\n');
    await writeFile(path, yaml);
    return path;
  }

  /** Drops the event history: every watch from an older revision now gets 410 Gone. */
  compact(): void {
    this.history.length = 0;
    this.compactedRevision = this.revision;
  }

  /** Ends every open watch stream cleanly, as a server-side timeout or restart does. */
  dropWatches(): void {
    for (const watcher of this.watchers) watcher.response.end();
    this.watchers.clear();
  }

  /** The next `count` requests are answered with `status` (a Status object). */
  failNextRequests(count: number, status = 503): void {
    this.failures = { remaining: count, status };
  }

  /**
   * Writes straight into the store, bypassing HTTP (so it works while stopped):
   * creates the object, or replaces it whatever its resourceVersion.
   */
  put(kind: KindInfo, object: StoredObject): StoredObject {
    const route: Route = { kind, namespace: object.metadata.namespace, name: object.metadata.name };
    const current = this.store(kind).get(key(object));
    const { resourceVersion: _ignored, ...metadata } = object.metadata;
    if (current === undefined) return this.create(route, { ...object, metadata });
    return this.update(route, { ...object, metadata: { ...metadata, resourceVersion: current.metadata.resourceVersion } });
  }

  /** Deletes straight from the store, bypassing HTTP. */
  remove(kind: KindInfo, name: string, namespace?: string): StoredObject {
    return this.delete({ kind, namespace, name }, undefined);
  }

  /** Stops listening and cuts every connection (clients see connection refused); state is kept. */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    this.dropWatches();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** Listens again on the same port, with the same objects and history. */
  async restart(): Promise<void> {
    await this.listen(this.portNumber);
  }

  private async listen(port: number): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        const e = err instanceof HttpError ? err : new HttpError(500, 'InternalError', String(err));
        if (!res.headersSent) sendStatus(res, e);
        else res.end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.portNumber = (server.address() as AddressInfo).port;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requests.push(apiRequest(req));
    if (this.failures.remaining > 0) {
      this.failures.remaining -= 1;
      throw new HttpError(this.failures.status, 'ServiceUnavailable', 'injected failure');
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = parseRoute(url.pathname);
    if (this.unservedKinds.has(route.kind)) throw notServed();
    const body = req.method === 'POST' || req.method === 'PUT' || req.method === 'DELETE' ? await readJson(req) : undefined;
    const query = url.searchParams;
    switch (req.method) {
      case 'GET':
        if (route.name !== undefined) return sendJson(res, 200, this.read(route));
        if (query.get('watch') === 'true' || query.get('watch') === '1') return this.watch(route, query, res);
        return sendJson(res, 200, this.list(route, parseSelector(query.get('labelSelector'))));
      case 'POST':
        if (route.name !== undefined) throw new HttpError(405, 'MethodNotAllowed', 'POST goes to the collection');
        return sendJson(res, 201, this.create(route, body));
      case 'PUT':
        return sendJson(res, 200, this.update(route, body));
      case 'DELETE':
        return sendJson(res, 200, this.delete(route, body));
      default:
        throw new HttpError(405, 'MethodNotAllowed', `method ${req.method ?? ''} not allowed`);
    }
  }

  private store(kind: KindInfo): Map<string, StoredObject> {
    let objects = this.objects.get(kind);
    if (objects === undefined) this.objects.set(kind, (objects = new Map()));
    return objects;
  }

  private existing(route: Route): StoredObject {
    const name = route.name ?? '';
    const object = this.store(route.kind).get(`${route.namespace ?? ''}/${name}`);
    if (object === undefined) throw new HttpError(404, 'NotFound', `${resourceName(route.kind)} "${name}" not found`, detailsOf(route.kind, name));
    return object;
  }

  private read(route: Route): StoredObject {
    return this.existing(route);
  }

  private list(route: Route, selector: SelectorAst | undefined): unknown {
    const items = [...this.store(route.kind).values()]
      .filter((o) => matches(o, route.namespace, selector))
      .sort((a, b) => key(a).localeCompare(key(b)))
      // The real API server leaves apiVersion/kind out of the items of built-in lists.
      .map((o) => (route.kind.isTortieKind ? o : { ...o, apiVersion: undefined, kind: undefined }));
    return { apiVersion: route.kind.apiVersion, kind: `${route.kind.kind}List`, metadata: { resourceVersion: String(this.revision) }, items };
  }

  private create(route: Route, body: unknown): StoredObject {
    const object = checkBody(route, body);
    if (route.kind.namespaced && route.namespace === undefined) throw new HttpError(404, 'NotFound', 'namespaced kinds are created in a namespace');
    if (this.requireNamespaces && route.namespace !== undefined && !this.store(Kinds.K8sNamespace).has(`/${route.namespace}`)) {
      throw new HttpError(404, 'NotFound', `namespaces "${route.namespace}" not found`, { name: route.namespace, kind: 'namespaces' });
    }
    if (object.metadata.resourceVersion !== undefined && object.metadata.resourceVersion !== '') {
      throw new HttpError(400, 'BadRequest', 'resourceVersion should not be set on objects to be created');
    }
    const objects = this.store(route.kind);
    const k = `${route.namespace ?? ''}/${object.metadata.name}`;
    if (objects.has(k)) {
      throw new HttpError(409, 'AlreadyExists', `${resourceName(route.kind)} "${object.metadata.name}" already exists`, detailsOf(route.kind, object.metadata.name));
    }
    const stored: StoredObject = {
      ...object,
      metadata: {
        ...object.metadata,
        ...(route.namespace === undefined ? {} : { namespace: route.namespace }),
        uid: randomUUID(),
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        generation: 1,
        resourceVersion: String(++this.revision),
      },
    };
    objects.set(k, stored);
    this.record({ revision: this.revision, kind: route.kind, type: 'ADDED', object: stored });
    return stored;
  }

  private update(route: Route, body: unknown): StoredObject {
    const object = checkBody(route, body);
    if (object.metadata.name !== route.name) throw new HttpError(400, 'BadRequest', 'the name of the object does not match the name on the URL');
    const current = this.existing(route);
    const rv = object.metadata.resourceVersion;
    if (rv === undefined || rv === '') {
      const message = 'Invalid value: 0x0: must be specified for an update';
      throw new HttpError(422, 'Invalid', `metadata.resourceVersion: ${message}`, { name: route.name, causes: [{ field: 'metadata.resourceVersion', message }] });
    }
    if (rv !== current.metadata.resourceVersion) throw conflict(route, 'the object has been modified; please apply your changes to the latest version and try again');
    const { uid, creationTimestamp, generation } = current.metadata;
    const next: StoredObject = { ...object, metadata: { ...object.metadata, uid, creationTimestamp, generation, namespace: current.metadata.namespace } };
    if (JSON.stringify(sortKeys(next)) === JSON.stringify(sortKeys(current))) return current; // no-op update
    const specChanged = JSON.stringify(sortKeys(next.spec)) !== JSON.stringify(sortKeys(current.spec));
    next.metadata.generation = (generation ?? 1) + (specChanged ? 1 : 0);
    next.metadata.resourceVersion = String(++this.revision);
    this.store(route.kind).set(key(current), next);
    this.record({ revision: this.revision, kind: route.kind, type: 'MODIFIED', object: next, previous: current });
    return next;
  }

  private delete(route: Route, body: unknown): StoredObject {
    const current = this.existing(route);
    const preconditions = (body as { preconditions?: { resourceVersion?: string; uid?: string } } | undefined)?.preconditions;
    if (preconditions?.resourceVersion !== undefined && preconditions.resourceVersion !== current.metadata.resourceVersion) {
      throw conflict(route, `Precondition failed: ResourceVersion in precondition: ${preconditions.resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion ?? ''}`);
    }
    if (preconditions?.uid !== undefined && preconditions.uid !== current.metadata.uid) {
      throw conflict(route, `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${current.metadata.uid ?? ''}`);
    }
    this.store(route.kind).delete(key(current));
    const gone = { ...current, metadata: { ...current.metadata, resourceVersion: String(++this.revision) } };
    this.record({ revision: this.revision, kind: route.kind, type: 'DELETED', object: gone });
    return current;
  }

  private record(entry: HistoryEntry): void {
    this.history.push(entry);
    while (this.history.length > this.historyLimit) this.compactedRevision = this.history.shift()?.revision ?? this.compactedRevision;
    for (const watcher of this.watchers) this.deliver(watcher, entry);
  }

  /** Sends one history entry to a watch as that watch should see it (namespace and selector applied). */
  private deliver(watcher: Watcher, entry: HistoryEntry): void {
    if (entry.kind !== watcher.kind) return;
    const now = matches(entry.object, watcher.namespace, watcher.selector);
    const before = entry.previous !== undefined && matches(entry.previous, watcher.namespace, watcher.selector);
    let type: EventType | undefined = entry.type;
    if (entry.type === 'MODIFIED') type = now && before ? 'MODIFIED' : now ? 'ADDED' : before ? 'DELETED' : undefined;
    else if (!now) type = undefined;
    if (type !== undefined) writeEvent(watcher.response, type, entry.object);
  }

  private watch(route: Route, query: URLSearchParams, res: ServerResponse): void {
    const selector = parseSelector(query.get('labelSelector'));
    const from = query.get('resourceVersion') ?? '';
    this.watchCount += 1;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const watcher: Watcher = { kind: route.kind, namespace: route.namespace, selector, response: res };
    if (from === '' || from === '0') {
      for (const object of this.store(route.kind).values()) if (matches(object, route.namespace, selector)) writeEvent(res, 'ADDED', object);
    } else {
      const since = Number(from);
      if (!Number.isInteger(since) || since < this.compactedRevision) {
        const status = statusOf(new HttpError(410, 'Expired', `too old resource version: ${from} (${this.compactedRevision + 1})`));
        res.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
        return;
      }
      for (const entry of this.history) if (entry.revision > since) this.deliver(watcher, entry);
    }
    this.watchers.add(watcher);
    const timers: NodeJS.Timeout[] = [];
    const timeoutSeconds = Number(query.get('timeoutSeconds') ?? '0');
    if (timeoutSeconds > 0) timers.push(setTimeout(() => res.end(), timeoutSeconds * 1000));
    if (query.get('allowWatchBookmarks') === 'true' && this.bookmarkIntervalMs > 0) {
      const sendBookmark = (): void => {
        writeEvent(res, 'BOOKMARK', { apiVersion: route.kind.apiVersion, kind: route.kind.kind, metadata: { resourceVersion: String(this.revision) } });
        this.bookmarks += 1;
      };
      timers.push(setInterval(sendBookmark, this.bookmarkIntervalMs));
    }
    res.on('close', () => {
      for (const timer of timers) clearTimeout(timer);
      this.watchers.delete(watcher);
    });
  }
}

/** Kinds by REST path: `v1/pods`, `crd.tortie.dev/v1/ippools`. */
const kindsByPath = new Map(allKinds.map((k) => [`${k.apiVersion}/${k.plural}`, k] as const));

function parseRoute(pathname: string): Route {
  const parts = pathname.split('/').filter((p) => p !== '').map(decodeURIComponent);
  let apiVersion: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 2) [apiVersion, rest] = [parts[1] ?? '', parts.slice(2)];
  else if (parts[0] === 'apis' && parts.length >= 3) [apiVersion, rest] = [`${parts[1]}/${parts[2]}`, parts.slice(3)];
  else throw notServed();
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) [namespace, rest] = [rest[1], rest.slice(2)];
  const kind = kindsByPath.get(`${apiVersion}/${rest[0] ?? ''}`);
  if (kind === undefined || rest.length > 2 || (namespace !== undefined && !kind.namespaced)) {
    throw notServed();
  }
  return { kind, namespace, name: rest[1] };
}

/** The RBAC verb, group and resource of a request (Kubernetes' request attributes; no subresources here). */
export function apiRequest(req: Pick<IncomingMessage, 'method' | 'url' | 'headers'>): RecordedRequest {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const user = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
  const method = (req.method ?? 'GET').toUpperCase();
  let route: Route | null = null;
  try {
    route = parseRoute(url.pathname);
  } catch (err) {
    void err; // A path that names no resource: recorded as such.
  }
  if (route === null) return { user, verb: method.toLowerCase(), group: '', resource: null, namespace: null, path: url.pathname };
  const watching = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
  const verbs: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: route.name === undefined ? 'deletecollection' : 'delete' };
  const verb = method === 'GET' ? (watching ? 'watch' : route.name === undefined ? 'list' : 'get') : (verbs[method] ?? method.toLowerCase());
  return { user, verb, group: groupOf(route.kind), resource: route.kind.plural, namespace: route.namespace ?? null, path: url.pathname };
}

function parseSelector(text: string | null): SelectorAst | undefined {
  if (text === null || text === '') return undefined;
  const parsed = parseLabelSelectorString(text);
  if (!parsed.ok) throw new HttpError(400, 'BadRequest', `unable to parse requirement: ${parsed.error.message}`);
  return parsed.selector;
}

function checkBody(route: Route, body: unknown): StoredObject {
  const object = body as Partial<StoredObject> | undefined;
  if (typeof object?.metadata?.name !== 'string' || object.metadata.name === '') {
    throw new HttpError(422, 'Invalid', 'metadata.name: Required value: name is required', {
      causes: [{ field: 'metadata.name', message: 'Required value: name is required' }],
    });
  }
  if (object.apiVersion !== route.kind.apiVersion || object.kind !== route.kind.kind) {
    throw new HttpError(400, 'BadRequest', `the API version in the data (${String(object.apiVersion)}) does not match the expected API version (${route.kind.apiVersion})`);
  }
  if (object.metadata.namespace !== undefined && object.metadata.namespace !== route.namespace) {
    throw new HttpError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
  }
  return structuredClone(object as StoredObject);
}

function matches(object: StoredObject, namespace: string | undefined, selector: SelectorAst | undefined): boolean {
  if (namespace !== undefined && object.metadata.namespace !== namespace) return false;
  return selector === undefined || matchSelector(selector, object.metadata.labels ?? {});
}

function key(object: StoredObject): string {
  return `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
}

function resourceName(kind: KindInfo): string {
  const group = groupOf(kind);
  return group === '' ? kind.plural : `${kind.plural}.${group}`;
}

function conflict(route: Route, why: string): HttpError {
  return new HttpError(409, 'Conflict', `Operation cannot be fulfilled on ${resourceName(route.kind)} "${route.name ?? ''}": ${why}`, detailsOf(route.kind, route.name));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]));
}

function detailsOf(kind: KindInfo, name: string | undefined): StatusDetails {
  return { name, group: groupOf(kind), kind: kind.plural };
}

function statusOf(err: HttpError): unknown {
  const details = Object.keys(err.details).length > 0 ? { details: err.details } : {};
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: err.message, reason: err.reason, code: err.code, ...details };
}

function sendStatus(res: ServerResponse, err: HttpError): void {
  sendJson(res, err.code, statusOf(err));
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

function writeEvent(res: ServerResponse, type: EventType | 'BOOKMARK', object: unknown): void {
  res.write(`${JSON.stringify({ type, object })}\n`);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // The caller gets the answer the real API server gives to a body that isn't JSON.
    throw new HttpError(400, 'BadRequest', 'the request body is not valid JSON');
  }
}
