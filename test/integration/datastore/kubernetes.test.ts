import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeDatastoreConformance } from '../../../lib/datastore/conformance.js';
import { Kinds, type KindInfo } from '../../../lib/datastore/kinds.js';
import { createKubernetesDatastore, type KubernetesDatastore } from '../../../lib/datastore/kubernetes.js';
import type { Datastore, DeleteOptions, ListOptions, ListResult, StoredObject, Watch, WatchEvent, WatchOptions } from '../../../lib/datastore/types.js';
import { hasErrorCode } from '../../../lib/errors.js';
import { FakeApiServer } from '../../harness/fake-apiserver.js';
import { startTcpProxy } from '../../harness/tcp-proxy.js';

/**
 * The kubernetes backend against the in-repo API server (test/harness/fake-apiserver.ts,
 * since no kube-apiserver can be installed here): the shared conformance suite,
 * then the HTTP mapping (409/404/5xx) and what the backend adds over
 * client-node's informer (synced only after a good list, restart with back-off,
 * relist on 410). With KUBECONFIG set, the conformance suite also runs against
 * that cluster.
 */

// The backend under test reaches the API server through a TCP proxy the test can cut;
// writes made while it is cut go through a second datastore that connects directly.
describeDatastoreConformance('kubernetes (in-repo API server)', async () => {
  const api = await FakeApiServer.start();
  const proxy = await startTcpProxy('127.0.0.1', api.port);
  const dir = await mkdtemp(join(tmpdir(), 'tortie-kube-conformance-'));
  const datastore = createKubernetesDatastore({
    kubeconfigPath: await api.writeKubeconfig(dir, { server: `http://${proxy.address}`, fileName: 'kubeconfig-proxied' }),
    retryDelayMs: { initial: 50, max: 500 },
  });
  const writer = createKubernetesDatastore({ kubeconfigPath: await api.writeKubeconfig(dir) });
  return {
    datastore,
    compact: async () => api.compact(),
    interruptWatches: async (whileCut) => {
      proxy.cut();
      try {
        await whileCut(writer);
      } finally {
        proxy.restore();
      }
    },
    teardown: async () => {
      await datastore.close();
      await writer.close();
      await proxy.close();
      await api.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

const REAL_CLUSTER_SUITE = 'kubernetes (cluster from KUBECONFIG)';
if (process.env['KUBECONFIG'] !== undefined && process.env['KUBECONFIG'] !== '') {
  // Use a scratch cluster: the suite writes IPPools (10.x CIDRs) and WorkloadEndpoints, and a
  // running IPAM would see them. The tortie CRDs must be installed (manifests/crds/).
  describeDatastoreConformance(REAL_CLUSTER_SUITE, async () => {
    const run = `tortie-conformance-${randomBytes(4).toString('hex')}`;
    const datastore = createKubernetesDatastore({ retryDelayMs: { initial: 200, max: 2_000 } });
    try {
      // Fails fast, saying so, when the CRDs are not installed (ERR_DATASTORE_UNSUPPORTED).
      await datastore.list(Kinds.IPPool, { labelSelector: 'tortie.dev/none' });
    } catch (err) {
      await datastore.close();
      throw err;
    }
    const scoped = new RunScopedDatastore(datastore, run);
    return { datastore: scoped, teardown: () => scoped.cleanUp() };
  });
} else {
  describe(`datastore conformance: ${REAL_CLUSTER_SUITE}`, () => {
    it.skip('KUBECONFIG is not set, so there is no real cluster to run the conformance suite against', () => {});
  });
}

/**
 * The conformance suite invents namespace names; a real API server wants the
 * Namespace to exist before anything is created in it. This wrapper creates
 * each namespace on first use, labelled with the run, and remembers the
 * cluster-scoped objects created, so cleanUp() leaves the cluster as it was.
 */
class RunScopedDatastore implements Datastore {
  readonly type = 'kubernetes' as const;
  private readonly namespaces = new Set<string>();
  private readonly clusterObjects = new Map<string, { kind: KindInfo; name: string }>();
  private readonly runLabel = 'tortie.dev/conformance-run';

  constructor(
    private readonly inner: KubernetesDatastore,
    private readonly run: string,
  ) {}

  get<T extends StoredObject = StoredObject>(kind: KindInfo, name: string, namespace?: string): Promise<T | null> {
    return this.inner.get<T>(kind, name, namespace);
  }
  list<T extends StoredObject = StoredObject>(kind: KindInfo, options?: ListOptions): Promise<ListResult<T>> {
    return this.inner.list<T>(kind, options);
  }
  watch<T extends StoredObject = StoredObject>(kind: KindInfo, options?: WatchOptions<T>): Watch<T> {
    return this.inner.watch<T>(kind, options);
  }
  async create<T extends StoredObject>(kind: KindInfo, object: T): Promise<T> {
    if (kind.namespaced && object.metadata.namespace !== undefined) await this.ensureNamespace(object.metadata.namespace);
    const created = await this.inner.create(kind, object);
    if (!kind.namespaced) this.clusterObjects.set(`${kind.plural}/${created.metadata.name}`, { kind, name: created.metadata.name });
    return created;
  }
  update<T extends StoredObject>(kind: KindInfo, object: T): Promise<T> {
    return this.inner.update(kind, object);
  }
  delete<T extends StoredObject = StoredObject>(kind: KindInfo, name: string, namespace?: string, options?: DeleteOptions): Promise<T> {
    return this.inner.delete<T>(kind, name, namespace, options);
  }
  close(): Promise<void> {
    return this.inner.close();
  }

  private async ensureNamespace(namespace: string): Promise<void> {
    if (this.namespaces.has(namespace)) return;
    try {
      await this.inner.create(Kinds.K8sNamespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { [this.runLabel]: this.run } } });
    } catch (err) {
      if (!hasErrorCode(err, 'ERR_DATASTORE_ALREADY_EXISTS')) throw err;
    }
    this.namespaces.add(namespace);
  }

  /** Deletes what the run created: its namespaces (with everything in them) and its cluster-scoped objects. */
  async cleanUp(): Promise<void> {
    for (const { kind, name } of this.clusterObjects.values()) {
      await this.inner.delete(kind, name).catch((err: unknown) => {
        if (!hasErrorCode(err, 'ERR_DATASTORE_NOT_FOUND')) throw err;
      });
    }
    const namespaces = await this.inner.list(Kinds.K8sNamespace, { labelSelector: `${this.runLabel}=${this.run}` });
    for (const ns of namespaces.items) {
      await this.inner.delete(Kinds.K8sNamespace, ns.metadata.name).catch((err: unknown) => {
        if (!hasErrorCode(err, 'ERR_DATASTORE_NOT_FOUND')) throw err;
      });
    }
    await this.inner.close();
  }
}

const FAST_RETRY = { initial: 20, max: 200 };

function pool(name: string, labels: Record<string, string> = {}, cidr = '10.0.0.0/16'): StoredObject {
  return { apiVersion: Kinds.IPPool.apiVersion, kind: Kinds.IPPool.kind, metadata: { name, labels }, spec: { cidr } };
}

function endpoint(namespace: string, name: string): StoredObject {
  return {
    apiVersion: Kinds.WorkloadEndpoint.apiVersion,
    kind: Kinds.WorkloadEndpoint.kind,
    metadata: { name, namespace },
    spec: { node: 'node1', pod: name, interfaceName: 'tor0123' },
  };
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const err: unknown = await promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  expect((err as { code?: unknown }).code, String(err)).toBe(code);
}

/** Reads a watch with deadlines, never a fixed sleep. */
class WatchReader<T extends StoredObject> {
  private readonly iterator: AsyncIterator<WatchEvent<T>>;
  private pending: Promise<IteratorResult<WatchEvent<T>>> | undefined;

  constructor(readonly watch: Watch<T>) {
    this.iterator = watch[Symbol.asyncIterator]();
  }

  async next(timeoutMs = 5_000): Promise<WatchEvent<T>> {
    this.pending ??= this.iterator.next();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const result = await Promise.race([this.pending, timeout]);
    clearTimeout(timer);
    if (result === 'timeout') throw new Error(`no watch event within ${timeoutMs} ms`);
    this.pending = undefined;
    if (result.done === true) throw new Error('watch ended');
    return result.value;
  }

  /** Events up to and including the first one of `type`. */
  async until(type: WatchEvent['type'], timeoutMs = 5_000): Promise<WatchEvent<T>[]> {
    const deadline = Date.now() + timeoutMs;
    const events: WatchEvent<T>[] = [];
    for (;;) {
      const event = await this.next(Math.max(1, deadline - Date.now()));
      events.push(event);
      if (event.type === type) return events;
    }
  }

  /** True if no event arrives within `ms` (used only to show that something did NOT happen). */
  async isQuiet(ms: number): Promise<boolean> {
    try {
      await this.next(ms);
      return false;
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('no watch event')) return true;
      throw err;
    }
  }
}

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** What a consumer holds after applying events to a list: name -> resourceVersion. */
function applyEvents(start: readonly StoredObject[], events: readonly WatchEvent[]): Map<string, string | undefined> {
  const state = new Map(start.map((o) => [o.metadata.name, o.metadata.resourceVersion] as const));
  for (const event of events) {
    if (event.type === 'added' || event.type === 'modified') state.set(event.object.metadata.name, event.object.metadata.resourceVersion);
    else if (event.type === 'deleted') state.delete(event.object.metadata.name);
  }
  return state;
}

function stateOf(list: ListResult): Map<string, string | undefined> {
  return new Map(list.items.map((o) => [o.metadata.name, o.metadata.resourceVersion] as const));
}

describe('the real-cluster run scopes itself', () => {
  it('creates the namespaces the suite invents and leaves nothing behind', async () => {
    const api = await FakeApiServer.start({ requireNamespaces: true });
    const dir = await mkdtemp(join(tmpdir(), 'tortie-kube-'));
    try {
      const scoped = new RunScopedDatastore(createKubernetesDatastore({ kubeconfigPath: await api.writeKubeconfig(dir) }), 'run1');
      await scoped.create(Kinds.WorkloadEndpoint, endpoint('ns-invented', 'w'));
      await scoped.create(Kinds.WorkloadEndpoint, endpoint('ns-invented', 'w2'));
      await scoped.create(Kinds.IPPool, pool('p'));
      api.put(Kinds.K8sNamespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'not-ours' } });
      await scoped.cleanUp();
      const check = createKubernetesDatastore({ kubeconfigPath: await api.writeKubeconfig(dir) });
      expect((await check.list(Kinds.K8sNamespace)).items.map((n) => n.metadata.name)).toEqual(['not-ours']);
      expect((await check.list(Kinds.IPPool)).items).toEqual([]);
      await check.close();
    } finally {
      await api.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('kubernetes datastore specifics, against the in-repo API server', () => {
  let api: FakeApiServer;
  let dir: string;
  let ds: KubernetesDatastore;

  beforeEach(async () => {
    api = await FakeApiServer.start({ bookmarkIntervalMs: 200 });
    dir = await mkdtemp(join(tmpdir(), 'tortie-kube-'));
    ds = createKubernetesDatastore({ kubeconfigPath: await api.writeKubeconfig(dir), retryDelayMs: FAST_RETRY, requestTimeoutMs: 2_000 });
  });

  afterEach(async () => {
    await ds.close();
    await api.stop();
    await rm(dir, { recursive: true, force: true });
  });

  describe('requests', () => {
    it('create returns the stored object with its resourceVersion, get reads it back', async () => {
      const created = await ds.create(Kinds.IPPool, pool('a'));
      expect(created.metadata.resourceVersion).toMatch(/^\d+$/);
      expect(created.metadata.uid).toBeDefined();
      expect(await ds.get(Kinds.IPPool, 'a')).toEqual(created);
    });

    it('create ignores a resourceVersion the writer left on the object', async () => {
      const created = await ds.create(Kinds.IPPool, { ...pool('a'), metadata: { name: 'a', resourceVersion: '999' } });
      expect(created.metadata.resourceVersion).not.toBe('999');
    });

    it('create of a taken name is ERR_DATASTORE_ALREADY_EXISTS (HTTP 409 AlreadyExists)', async () => {
      await ds.create(Kinds.IPPool, pool('a'));
      await expectCode(ds.create(Kinds.IPPool, pool('a')), 'ERR_DATASTORE_ALREADY_EXISTS');
    });

    it('update with a stale resourceVersion is ERR_DATASTORE_CONFLICT (HTTP 409 Conflict)', async () => {
      const v1 = await ds.create(Kinds.IPPool, pool('a'));
      const v2 = await ds.update(Kinds.IPPool, { ...v1, spec: { cidr: '10.1.0.0/16' } });
      expect(v2.metadata.resourceVersion).not.toBe(v1.metadata.resourceVersion);
      await expectCode(ds.update(Kinds.IPPool, { ...v1, spec: { cidr: '10.2.0.0/16' } }), 'ERR_DATASTORE_CONFLICT');
    });

    it('update of a missing object is ERR_DATASTORE_NOT_FOUND, get of one is null', async () => {
      await expectCode(ds.update(Kinds.IPPool, { ...pool('gone'), metadata: { name: 'gone', resourceVersion: '1' } }), 'ERR_DATASTORE_NOT_FOUND');
      expect(await ds.get(Kinds.IPPool, 'gone')).toBeNull();
    });

    it('update without a resourceVersion is refused before any request', async () => {
      await expectCode(ds.update(Kinds.IPPool, pool('a')), 'ERR_VALIDATION');
    });

    it('delete honours the resourceVersion precondition and returns the deleted object', async () => {
      const v1 = await ds.create(Kinds.IPPool, pool('a'));
      const v2 = await ds.update(Kinds.IPPool, { ...v1, spec: { cidr: '10.1.0.0/16' } });
      await expectCode(ds.delete(Kinds.IPPool, 'a', undefined, { resourceVersion: v1.metadata.resourceVersion }), 'ERR_DATASTORE_CONFLICT');
      const deleted = await ds.delete(Kinds.IPPool, 'a', undefined, { resourceVersion: v2.metadata.resourceVersion });
      expect(deleted.spec).toEqual({ cidr: '10.1.0.0/16' });
      await expectCode(ds.delete(Kinds.IPPool, 'a'), 'ERR_DATASTORE_NOT_FOUND');
    });

    it('namespaced kinds live in their namespace and list across namespaces', async () => {
      await ds.create(Kinds.WorkloadEndpoint, endpoint('ns1', 'a'));
      await ds.create(Kinds.WorkloadEndpoint, endpoint('ns2', 'a'));
      expect((await ds.list(Kinds.WorkloadEndpoint, { namespace: 'ns1' })).items.map((o) => o.metadata.namespace)).toEqual(['ns1']);
      expect((await ds.list(Kinds.WorkloadEndpoint)).items).toHaveLength(2);
      expect(await ds.get(Kinds.WorkloadEndpoint, 'a', 'ns2')).not.toBeNull();
      await expectCode(ds.create(Kinds.WorkloadEndpoint, { ...endpoint('x', 'b'), metadata: { name: 'b' } }), 'ERR_VALIDATION');
    });

    it('a create the API server finds invalid is ERR_VALIDATION naming the field', async () => {
      const err: unknown = await ds.create(Kinds.IPPool, pool('')).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_VALIDATION', details: { status: 422, issues: [{ path: 'metadata.name' }] } });
    });

    it('list passes labelSelector through and reports the revision of the store', async () => {
      await ds.create(Kinds.IPPool, pool('a', { tier: 'web' }));
      await ds.create(Kinds.IPPool, pool('b', { tier: 'db' }));
      await ds.create(Kinds.IPPool, pool('c'));
      const list = await ds.list(Kinds.IPPool, { labelSelector: 'tier in (web,db),tier!=db' });
      expect(list.items.map((o) => o.metadata.name)).toEqual(['a']);
      expect(list.revision).toBe(api.currentRevision);
      await expectCode(ds.list(Kinds.IPPool, { labelSelector: 'tier in (' }), 'ERR_SELECTOR_SYNTAX');
      expect(() => ds.watch(Kinds.IPPool, { labelSelector: 'tier in (' })).toThrow(expect.objectContaining({ code: 'ERR_SELECTOR_SYNTAX' }));
    });

    it('core kinds are read with apiVersion and kind filled in, and writing them is ERR_DATASTORE_UNSUPPORTED', async () => {
      api.put(Kinds.K8sPod, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', labels: { app: 'x' } }, spec: {} });
      const list = await ds.list(Kinds.K8sPod, { namespace: 'default' });
      expect(list.items.map((o) => [o.apiVersion, o.kind, o.metadata.name])).toEqual([['v1', 'Pod', 'p']]);
      await expectCode(ds.create(Kinds.K8sPod, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'q', namespace: 'default' } }), 'ERR_DATASTORE_UNSUPPORTED');
      await expectCode(ds.delete(Kinds.K8sPod, 'p', 'default'), 'ERR_DATASTORE_UNSUPPORTED');
      expect(await ds.get(Kinds.K8sPod, 'p', 'default')).not.toBeNull();
    });

    it('Namespaces and Kubernetes NetworkPolicies may be written', async () => {
      await ds.create(Kinds.K8sNamespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } });
      const np = await ds.create(Kinds.K8sNetworkPolicy, {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'deny', namespace: 'team-a' },
        spec: { podSelector: {} },
      });
      expect(np.metadata.namespace).toBe('team-a');
      await ds.delete(Kinds.K8sNetworkPolicy, 'deny', 'team-a');
      await ds.delete(Kinds.K8sNamespace, 'team-a');
    });

    it('a kind the API server does not serve (CRDs not installed) is ERR_DATASTORE_UNSUPPORTED, not absence', async () => {
      const bare = await FakeApiServer.start({ unservedKinds: [Kinds.IPPool] });
      const other = createKubernetesDatastore({ kubeconfigPath: await bare.writeKubeconfig(dir, { fileName: 'bare' }) });
      try {
        await expectCode(other.get(Kinds.IPPool, 'a'), 'ERR_DATASTORE_UNSUPPORTED');
        await expectCode(other.list(Kinds.IPPool), 'ERR_DATASTORE_UNSUPPORTED');
        await expectCode(other.create(Kinds.IPPool, pool('a')), 'ERR_DATASTORE_UNSUPPORTED');
        expect(await other.get(Kinds.BGPPeer, 'a')).toBeNull();
      } finally {
        await other.close();
        await bare.stop();
      }
    });

    it('a stopped server and a 5xx answer are ERR_DATASTORE_UNAVAILABLE', async () => {
      api.failNextRequests(1, 503);
      await expectCode(ds.list(Kinds.IPPool), 'ERR_DATASTORE_UNAVAILABLE');
      await api.stop();
      await expectCode(ds.get(Kinds.IPPool, 'a'), 'ERR_DATASTORE_UNAVAILABLE');
      await expectCode(ds.create(Kinds.IPPool, pool('a')), 'ERR_DATASTORE_UNAVAILABLE');
      await api.restart();
      expect(await ds.get(Kinds.IPPool, 'a')).toBeNull();
    });
  });

  describe('watch', () => {
    it('without `from` lists first: every object as added, then synced, then changes', async () => {
      await ds.create(Kinds.IPPool, pool('a'));
      await ds.create(Kinds.IPPool, pool('b'));
      const reader = new WatchReader(ds.watch(Kinds.IPPool));
      const initial = await reader.until('synced');
      expect(initial.map((e) => [e.type, 'object' in e ? e.object.metadata.name : ''])).toEqual([
        ['added', 'a'],
        ['added', 'b'],
        ['synced', ''],
      ]);
      expect(initial.at(-1)?.revision).toBe(api.currentRevision);
      const c = await ds.create(Kinds.IPPool, pool('c'));
      expect(await reader.next()).toMatchObject({ type: 'added', object: { metadata: { name: 'c' } }, revision: c.metadata.resourceVersion });
      const c2 = await ds.update(Kinds.IPPool, { ...c, spec: { cidr: '10.9.0.0/16' } });
      expect(await reader.next()).toMatchObject({ type: 'modified', revision: c2.metadata.resourceVersion });
      await ds.delete(Kinds.IPPool, 'c');
      expect(await reader.next()).toMatchObject({ type: 'deleted', object: { kind: 'IPPool', metadata: { name: 'c' } } });
    });

    it('with `from` delivers only what changed after that list', async () => {
      await ds.create(Kinds.IPPool, pool('a'));
      const from = await ds.list(Kinds.IPPool);
      await ds.create(Kinds.IPPool, pool('b'));
      const reader = new WatchReader(ds.watch(Kinds.IPPool, { from }));
      expect(await reader.next()).toMatchObject({ type: 'added', object: { metadata: { name: 'b' } } });
    });

    it('is synced only after a good list: a failing first list is retried, not reported', async () => {
      await ds.create(Kinds.IPPool, pool('a'));
      api.failNextRequests(3, 500);
      const reader = new WatchReader(ds.watch(Kinds.IPPool));
      const events = await reader.until('synced');
      expect(events.map((e) => e.type)).toEqual(['added', 'synced']);
    });

    it('a watch started while the API server is down says nothing until it is back, then syncs', async () => {
      await ds.create(Kinds.IPPool, pool('a'));
      await api.stop();
      const reader = new WatchReader(ds.watch(Kinds.IPPool));
      expect(await reader.isQuiet(400)).toBe(true);
      await api.restart();
      expect((await reader.until('synced', 10_000)).map((e) => e.type)).toEqual(['added', 'synced']);
    });

    it('a stream the server ends is resumed from the last revision, with no repeats and no second synced', async () => {
      const reader = new WatchReader(ds.watch(Kinds.IPPool));
      await reader.until('synced');
      await ds.create(Kinds.IPPool, pool('a'));
      expect(await reader.next()).toMatchObject({ type: 'added' });
      api.dropWatches();
      await ds.create(Kinds.IPPool, pool('b'));
      const next = await reader.next();
      expect(next).toMatchObject({ type: 'added', object: { metadata: { name: 'b' } } });
      expect(await reader.isQuiet(300)).toBe(true);
    });

    it('a watch the server ends after timeoutSeconds is resumed without a relist', async () => {
      const short = createKubernetesDatastore({ kubeconfigPath: await api.writeKubeconfig(dir), watchTimeoutSec: 1, retryDelayMs: FAST_RETRY });
      try {
        const reader = new WatchReader(short.watch(Kinds.IPPool));
        await reader.until('synced');
        const before = api.watchRequests;
        await waitFor(() => api.watchRequests > before, 5_000);
        const a = await ds.create(Kinds.IPPool, pool('a'));
        expect(await reader.next()).toEqual({ type: 'added', object: a, revision: a.metadata.resourceVersion });
        expect(await reader.isQuiet(200)).toBe(true);
      } finally {
        await short.close();
      }
    });

    it('a watch from a compacted revision relists and delivers the exact difference, then resynced', async () => {
      const a = await ds.create(Kinds.IPPool, pool('a'));
      await ds.create(Kinds.IPPool, pool('b'));
      await ds.create(Kinds.IPPool, pool('unchanged'));
      const from = await ds.list(Kinds.IPPool);
      await ds.update(Kinds.IPPool, { ...a, spec: { cidr: '10.7.0.0/16' } });
      await ds.delete(Kinds.IPPool, 'b');
      await ds.create(Kinds.IPPool, pool('c'));
      api.compact();

      const reader = new WatchReader(ds.watch(Kinds.IPPool, { from }));
      const events = await reader.until('resynced');
      const byName = Object.fromEntries(events.flatMap((e) => ('object' in e ? [[e.object.metadata.name, e.type]] : [])));
      expect(byName).toEqual({ a: 'modified', b: 'deleted', c: 'added' });
      expect(applyEvents(from.items, events)).toEqual(stateOf(await ds.list(Kinds.IPPool)));
    });

    it('a watch answered with HTTP 410 relists too', async () => {
      await ds.create(Kinds.IPPool, pool('a'));
      const from = await ds.list(Kinds.IPPool);
      await ds.create(Kinds.IPPool, pool('b'));
      api.failNextRequests(1, 410);
      const reader = new WatchReader(ds.watch(Kinds.IPPool, { from }));
      const events = await reader.until('resynced');
      expect(events.map((e) => e.type)).toEqual(['added', 'resynced']);
    });

    it('bookmarks move the resume point, so churn in other kinds does not force a relist', async () => {
      const reader = new WatchReader(ds.watch(Kinds.IPPool));
      await reader.until('synced');
      for (let i = 0; i < 5; i++) await ds.create(Kinds.IPAMHandle, { apiVersion: Kinds.IPAMHandle.apiVersion, kind: 'IPAMHandle', metadata: { name: `h${i}` } });
      const sent = api.bookmarksSent;
      await waitFor(() => api.bookmarksSent > sent);
      api.compact();
      api.dropWatches();
      const a = await ds.create(Kinds.IPPool, pool('a'));
      // Straight to the new object: no relist, no resynced.
      expect(await reader.next()).toMatchObject({ type: 'added', revision: a.metadata.resourceVersion });
      expect(await reader.isQuiet(300)).toBe(true);
    });

    it('survives the API server going away: retries with back-off, then 410 relist, and ends equal to a fresh list', async () => {
      for (const name of ['a', 'b', 'c']) await ds.create(Kinds.IPPool, pool(name));
      const reader = new WatchReader(ds.watch(Kinds.IPPool));
      const seen = await reader.until('synced');
      const start: StoredObject[] = [];

      await api.stop();
      // While it is down: changes the watch cannot see, then etcd compacts them away.
      api.put(Kinds.IPPool, pool('a', {}, '10.5.0.0/16'));
      api.remove(Kinds.IPPool, 'b');
      api.put(Kinds.IPPool, pool('d'));
      api.compact();
      expect(await reader.isQuiet(300)).toBe(true);
      await api.restart();

      const recovered = await reader.until('resynced', 10_000);
      expect(applyEvents(start, [...seen, ...recovered])).toEqual(stateOf(await ds.list(Kinds.IPPool)));
      // And it goes on watching.
      await ds.create(Kinds.IPPool, pool('e'));
      expect(await reader.next()).toMatchObject({ type: 'added', object: { metadata: { name: 'e' } } });
    });

    it('restarts after the server comes back and delivers what happened meanwhile (no 410 needed)', async () => {
      const reader = new WatchReader(ds.watch(Kinds.IPPool));
      await reader.until('synced');
      await api.stop();
      api.put(Kinds.IPPool, pool('while-down'));
      await api.restart();
      expect(await reader.next(10_000)).toMatchObject({ type: 'added', object: { metadata: { name: 'while-down' } } });
    });

    it('a label-selected watch sees an object that stops matching as deleted and one that starts as added', async () => {
      const a = await ds.create(Kinds.IPPool, pool('a', { tier: 'web' }));
      const reader = new WatchReader(ds.watch(Kinds.IPPool, { labelSelector: 'tier=web' }));
      await reader.until('synced');
      const a2 = await ds.update(Kinds.IPPool, { ...a, metadata: { ...a.metadata, labels: { tier: 'db' } } });
      expect(await reader.next()).toMatchObject({ type: 'deleted', object: { metadata: { name: 'a' } } });
      await ds.update(Kinds.IPPool, { ...a2, metadata: { ...a2.metadata, labels: { tier: 'web' } } });
      expect(await reader.next()).toMatchObject({ type: 'added', object: { metadata: { name: 'a' } } });
    });

    it('a namespaced watch sees only its namespace', async () => {
      const reader = new WatchReader(ds.watch(Kinds.WorkloadEndpoint, { namespace: 'ns1' }));
      await reader.until('synced');
      await ds.create(Kinds.WorkloadEndpoint, endpoint('ns2', 'x'));
      await ds.create(Kinds.WorkloadEndpoint, endpoint('ns1', 'y'));
      expect(await reader.next()).toMatchObject({ type: 'added', object: { metadata: { name: 'y', namespace: 'ns1' } } });
    });

    it('close() ends the iteration', async () => {
      const watch = ds.watch(Kinds.IPPool);
      const reader = new WatchReader(watch);
      await reader.until('synced');
      watch.close();
      await expect(reader.next()).rejects.toThrow('watch ended');
    });
  });
});
