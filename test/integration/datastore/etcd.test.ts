import { readFile } from 'node:fs/promises';
import { Etcd3 } from 'etcd3';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeDatastoreConformance } from '../../../lib/datastore/conformance.js';
import { createEtcdDatastore, etcdKeyOf, type EtcdDatastore } from '../../../lib/datastore/etcd.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import type { StoredObject } from '../../../lib/datastore/types.js';
import { hasErrorCode } from '../../../lib/errors.js';
import { findFreePort, startEtcd, type EtcdInstance } from '../../harness/etcd.js';
import { startTcpProxy, type TcpProxy } from '../../harness/tcp-proxy.js';
import { makeTestCertificates, type TestCertificates } from '../../harness/tls.js';

// The etcd backend against a real etcd-server on loopback (no root needed).
// Watch interruptions are real: the backend under test talks to etcd through
// a TCP proxy the test can cut; writes meanwhile go through a second client.
describeDatastoreConformance('etcdv3', async () => {
  const etcd = await startEtcd();
  const proxy = await startTcpProxy('127.0.0.1', Number(new URL(etcd.endpoint).port));
  const datastore = createEtcdDatastore({ endpoints: [`http://${proxy.address}`], watchMaxBackoffMs: 500 });
  const writer = createEtcdDatastore({ endpoints: [etcd.endpoint] });
  return {
    datastore,
    compact: () => writer.compact(),
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
      await etcd.stop();
    },
  };
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function retryWhileUnavailable<R>(run: () => Promise<R>, timeoutMs = 15_000): Promise<R> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    try {
      return await run();
    } catch (err) {
      if (!hasErrorCode(err, 'ERR_DATASTORE_UNAVAILABLE') || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe('etcdv3 datastore specifics', () => {
  let etcd: EtcdInstance;
  let ds: EtcdDatastore;
  let raw: Etcd3;

  beforeAll(async () => {
    etcd = await startEtcd();
    ds = createEtcdDatastore({ endpoints: [etcd.endpoint] });
    raw = new Etcd3({ hosts: etcd.endpoint });
  });
  afterAll(async () => {
    raw?.close();
    await ds?.close();
    await etcd?.stop();
  });

  it('stores objects under /tortie/v1/<group>/<plural>/[<namespace>/]<name> as JSON without resourceVersion', async () => {
    const pool = await ds.create<StoredObject>(Kinds.IPPool, {
      apiVersion: Kinds.IPPool.apiVersion,
      kind: 'IPPool',
      metadata: { name: 'default-ipv4-ippool' },
      spec: { cidr: '10.244.0.0/16' },
    });
    const value = await raw.get('/tortie/v1/crd.tortie.dev/ippools/default-ipv4-ippool').json();
    expect(value).toEqual({ ...pool, metadata: { name: 'default-ipv4-ippool', uid: pool.metadata.uid, creationTimestamp: pool.metadata.creationTimestamp } });
    const kv = (await raw.get('/tortie/v1/crd.tortie.dev/ippools/default-ipv4-ippool').exec()).kvs[0];
    expect(pool.metadata.resourceVersion).toBe(kv?.mod_revision);

    expect(etcdKeyOf(Kinds.WorkloadEndpoint, 'node1-k8s-web-eth0', 'default')).toBe(
      '/tortie/v1/crd.tortie.dev/workloadendpoints/default/node1-k8s-web-eth0',
    );
    expect(etcdKeyOf(Kinds.K8sNamespace, 'default')).toBe('/tortie/v1/core/namespaces/default');
    expect(etcdKeyOf(Kinds.K8sNetworkPolicy, 'deny', 'prod')).toBe('/tortie/v1/networking.k8s.io/networkpolicies/prod/deny');
    expect(etcdKeyOf(Kinds.NetworkPolicy, 'deny', 'prod')).toBe('/tortie/v1/crd.tortie.dev/networkpolicies/prod/deny');
    await ds.create(Kinds.K8sNetworkPolicy, {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'deny', namespace: 'prod' },
      spec: { podSelector: {} },
    });
    expect(await raw.get('/tortie/v1/networking.k8s.io/networkpolicies/prod/deny').exists()).toBe(true);
  });

  it('refuses names with "/", a missing namespace, a wrong kind and an update without resourceVersion', async () => {
    const pool: StoredObject = { apiVersion: Kinds.IPPool.apiVersion, kind: 'IPPool', metadata: { name: 'a/b' }, spec: {} };
    await expect(ds.create(Kinds.IPPool, pool)).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
    const wep: StoredObject = { apiVersion: Kinds.WorkloadEndpoint.apiVersion, kind: 'WorkloadEndpoint', metadata: { name: 'w' }, spec: {} };
    await expect(ds.create(Kinds.WorkloadEndpoint, wep)).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
    await expect(ds.create(Kinds.BGPPeer, { ...pool, metadata: { name: 'p' } })).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
    const created = await ds.create<StoredObject>(Kinds.IPPool, { ...pool, metadata: { name: "no-rv" } });
    const { resourceVersion, ...metadata } = created.metadata;
    void resourceVersion;
    await expect(ds.update(Kinds.IPPool, { ...created, metadata })).rejects.toMatchObject({
      code: 'ERR_VALIDATION',
      message: expect.stringContaining('metadata.resourceVersion'),
    });
  });

  it('an update without uid and creationTimestamp keeps the stored ones', async () => {
    const created = await ds.create<StoredObject>(Kinds.IPPool, {
      apiVersion: Kinds.IPPool.apiVersion,
      kind: 'IPPool',
      metadata: { name: 'carry' },
      spec: { cidr: '10.1.0.0/16' },
    });
    const updated = await ds.update<StoredObject>(Kinds.IPPool, {
      ...created,
      metadata: { name: 'carry', resourceVersion: created.metadata.resourceVersion },
      spec: { cidr: '10.2.0.0/16' },
    });
    expect(updated.metadata.uid).toBe(created.metadata.uid);
    expect(updated.metadata.creationTimestamp).toBe(created.metadata.creationTimestamp);
  });

  it('a label selector that does not parse is ERR_SELECTOR_SYNTAX with the column', async () => {
    let caught: unknown;
    try {
      await ds.list(Kinds.IPPool, { labelSelector: 'app in (a,' });
    } catch (err) {
      caught = err;
    }
    expect(hasErrorCode(caught, 'ERR_SELECTOR_SYNTAX'), String(caught)).toBe(true);
    expect(String(caught)).toMatch(/column \d+/);
  });

  it('lists in pages: every object once, in key order, at the store revision', async () => {
    const paged = createEtcdDatastore({ endpoints: [etcd.endpoint], listPageSize: 2 });
    try {
      const names = Array.from({ length: 7 }, (_, i) => `paged-${i}`);
      for (const name of names) {
        await ds.create<StoredObject>(Kinds.IPPool, { apiVersion: Kinds.IPPool.apiVersion, kind: 'IPPool', metadata: { name, labels: { paged: 'yes' } }, spec: {} });
      }
      const listed = await paged.list(Kinds.IPPool, { labelSelector: 'paged=yes' });
      expect(listed.items.map((o) => o.metadata.name)).toEqual(names);
      expect(listed.revision).toBe(await ds.currentRevision());
    } finally {
      await paged.close();
    }
  });

  it('an object over etcd\'s request size limit is ERR_VALIDATION, not UNAVAILABLE', async () => {
    // Over --max-request-bytes (1.5 MiB) and over etcd's gRPC receive limit (2 MiB): two different gRPC errors.
    for (const bytes of [1.8 * 1024 * 1024, 2.5 * 1024 * 1024]) {
      const huge: StoredObject = {
        apiVersion: Kinds.IPPool.apiVersion,
        kind: 'IPPool',
        metadata: { name: 'huge' },
        spec: { padding: 'x'.repeat(bytes) },
      };
      await expect(ds.create(Kinds.IPPool, huge)).rejects.toMatchObject({ code: 'ERR_VALIDATION', message: expect.stringContaining('too large') });
    }
    expect(await ds.get(Kinds.IPPool, 'huge')).toBeNull();
  });

  it('a value under the prefix that is not one of our objects is treated as absent', async () => {
    await raw.put('/tortie/v1/crd.tortie.dev/ippools/garbage').value('not json');
    const listed = await ds.list(Kinds.IPPool);
    expect(listed.items.map((o) => o.metadata.name)).not.toContain('garbage');
  });

  it('an unreachable etcd fails fast with ERR_DATASTORE_UNAVAILABLE naming the endpoint', async () => {
    const endpoint = `http://127.0.0.1:${await findFreePort()}`;
    const down = createEtcdDatastore({ endpoints: [endpoint], requestTimeoutMs: 3000 });
    try {
      const started = Date.now();
      let caught: unknown;
      try {
        await down.get(Kinds.IPPool, 'x');
      } catch (err) {
        caught = err;
      }
      expect(hasErrorCode(caught, 'ERR_DATASTORE_UNAVAILABLE'), String(caught)).toBe(true);
      expect(String((caught as Error).message)).toContain(endpoint);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await down.close();
    }
  });

  it('a watch opened while etcd is unreachable syncs once it is back', async () => {
    const proxy = await startTcpProxy('127.0.0.1', Number(new URL(etcd.endpoint).port));
    const problems: string[] = [];
    const behind = createEtcdDatastore({
      endpoints: [`http://${proxy.address}`],
      watchMaxBackoffMs: 200,
      onWatchProblem: ({ reason }) => problems.push(reason),
    });
    try {
      proxy.cut();
      const watch = behind.watch(Kinds.K8sNamespace);
      const iterator = watch[Symbol.asyncIterator]();
      const first = iterator.next();
      await waitFor(() => problems.includes('relist-failed'));
      proxy.restore();
      expect((await first).value?.type).toBe('synced');
      watch.close();
    } finally {
      await behind.close();
      await proxy.close();
    }
  });

  it('a watch resumes after etcd restarts: the change before is not repeated, the change after arrives', async () => {
    const kind = Kinds.K8sNamespace;
    const ns = (name: string): StoredObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name }, spec: {} });
    const from = await ds.list(kind);
    const watch = ds.watch(kind, { from });
    const iterator = watch[Symbol.asyncIterator]();
    const before = await ds.create(kind, ns('before-restart'));
    expect((await iterator.next()).value).toMatchObject({ type: 'added', revision: before.metadata.resourceVersion });
    const oldPid = etcd.pid;
    await etcd.restart();
    expect(etcd.pid).not.toBe(oldPid);
    const after = await retryWhileUnavailable(() => ds.create(kind, ns('after-restart')));
    expect((await iterator.next()).value).toMatchObject({ type: 'added', revision: after.metadata.resourceVersion });
    watch.close();
  });

  it('close() ends open watches and later calls fail with ERR_DATASTORE_UNAVAILABLE', async () => {
    const other = createEtcdDatastore({ endpoints: [etcd.endpoint] });
    const watch = other.watch(Kinds.IPPool);
    const iterator = watch[Symbol.asyncIterator]();
    let event = await iterator.next();
    while (event.value?.type !== 'synced') event = await iterator.next();
    const pending = iterator.next();
    await other.close();
    expect((await pending).done).toBe(true);
    await expect(other.get(Kinds.IPPool, 'x')).rejects.toMatchObject({ code: 'ERR_DATASTORE_UNAVAILABLE' });
  });

  it('closing many watches does not make the shared client unavailable to its other users', async () => {
    // A closed watch ends its stream with gRPC CANCELLED, our own doing; counted as the endpoint's failure,
    // three in a row opened the endpoint's circuit breaker and the next calls failed for a second.
    const shared = createEtcdDatastore({ endpoints: [etcd.endpoint] });
    try {
      for (let round = 0; round < 3; round++) {
        const watches = Array.from({ length: 8 }, () => shared.watch(Kinds.IPPool));
        for (const watch of watches) {
          const iterator = watch[Symbol.asyncIterator]();
          let event = await iterator.next();
          while (event.value?.type !== 'synced') event = await iterator.next();
        }
        for (const watch of watches) watch.close();
        await new Promise((resolve) => setTimeout(resolve, 50));
        await expect(shared.get(Kinds.IPPool, 'absent')).resolves.toBeNull();
      }
    } finally {
      await shared.close();
    }
  });
});

/**
 * Felix's calc-graph contract applied to the watch: whatever the writes and
 * whenever the connection drops or history is compacted, a consumer that
 * applies the events strictly (added only for what it lacks, modified and
 * deleted only for what it has) ends with exactly what a fresh list says.
 */
describe('etcdv3 watch under random writes, cuts and compactions', () => {
  type Step =
    | { op: 'create' | 'update' | 'delete'; name: number }
    | { op: 'cut' | 'restore' | 'compact' };
  const stepArb: fc.Arbitrary<Step> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ op: fc.constantFrom('create' as const, 'update' as const, 'delete' as const), name: fc.nat(4) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constantFrom('cut' as const, 'restore' as const, 'compact' as const) }) },
  );

  let etcd: EtcdInstance;
  let proxy: TcpProxy;
  let watched: EtcdDatastore;
  let writer: EtcdDatastore;
  let run = 0;

  beforeAll(async () => {
    etcd = await startEtcd();
    proxy = await startTcpProxy('127.0.0.1', Number(new URL(etcd.endpoint).port));
    watched = createEtcdDatastore({ endpoints: [`http://${proxy.address}`], watchMaxBackoffMs: 200 });
    writer = createEtcdDatastore({ endpoints: [etcd.endpoint] });
  });
  afterAll(async () => {
    await watched?.close();
    await writer?.close();
    await proxy?.close();
    await etcd?.stop();
  });

  it('a delete at exactly the compaction revision, made while the watch is cut off, still arrives', async () => {
    // etcd accepts a watch that starts at the compaction revision, but compaction removed the
    // delete's tombstone at that revision: resuming from "last delivered + 1" would lose it.
    const kind = Kinds.WorkloadEndpoint;
    const ns = 'compact-edge';
    const wep = (name: string): StoredObject => ({ apiVersion: kind.apiVersion, kind: kind.kind, metadata: { name, namespace: ns }, spec: {} });
    proxy.restore();
    await retryWhileUnavailable(() => watched.get(kind, 'probe', ns));
    const from = await watched.list(kind, { namespace: ns });
    const watch = watched.watch(kind, { namespace: ns, from });
    const iterator = watch[Symbol.asyncIterator]();
    try {
      const doomed = await watched.create(kind, wep('doomed'));
      expect((await iterator.next()).value).toMatchObject({ type: 'added', revision: doomed.metadata.resourceVersion });
      proxy.cut();
      await writer.delete(kind, 'doomed', ns);
      const deletedAt = await writer.currentRevision();
      expect(BigInt(deletedAt)).toBe(BigInt(doomed.metadata.resourceVersion as string) + 1n);
      await writer.compact(deletedAt);
      proxy.restore();
      await retryWhileUnavailable(() => watched.get(kind, 'probe', ns));
      // The watch was at the create's revision, below the compaction: etcd must say so, and the
      // resync delivers the delete.
      const seen: string[] = [];
      while (!seen.includes('resynced')) {
        const { value: event } = await iterator.next();
        seen.push(event.type === 'synced' || event.type === 'resynced' ? event.type : `${event.type} ${event.object.metadata.name}`);
      }
      expect(seen).toEqual(['deleted doomed', 'resynced']);
    } finally {
      watch.close();
    }
  });

  it('the consumer state after catching up equals a fresh list, and every event applies strictly', async () => {
    const kind = Kinds.WorkloadEndpoint;
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 25 }), async (steps) => {
        run += 1;
        const ns = `prop-${run}`;
        const wep = (n: number, v: number): StoredObject => ({
          apiVersion: kind.apiVersion,
          kind: kind.kind,
          metadata: { name: `w${n}`, namespace: ns },
          spec: { node: `node${v}` },
        });
        proxy.restore();
        await retryWhileUnavailable(() => watched.get(kind, 'probe', ns));
        const from = await watched.list(kind, { namespace: ns });
        const consumer = new Map<string, StoredObject>(from.items.map((o) => [o.metadata.name, o]));
        const watch = watched.watch(kind, { namespace: ns, from });
        const iterator = watch[Symbol.asyncIterator]();
        const stored = new Map<number, StoredObject>();
        let version = 0;
        try {
          for (const step of steps) {
            version += 1;
            if (step.op === 'cut') proxy.cut();
            else if (step.op === 'restore') proxy.restore();
            else if (step.op === 'compact') await writer.compact();
            else if (step.op === 'create' && !stored.has(step.name)) stored.set(step.name, await writer.create(kind, wep(step.name, version)));
            else if (step.op === 'update' && stored.has(step.name)) {
              const current = stored.get(step.name) as StoredObject;
              stored.set(step.name, await writer.update(kind, { ...current, spec: { node: `node${version}` } }));
            } else if (step.op === 'delete' && stored.has(step.name)) {
              await writer.delete(kind, `w${step.name}`, ns);
              stored.delete(step.name);
            }
          }
          proxy.restore();
          await retryWhileUnavailable(() => watched.get(kind, 'probe', ns));
          // Read up to a sentinel written after everything else. A resync batch is queued whole, so
          // once the first sentinel is seen, a second one written after it comes after the batch's rest.
          for (const sentinelName of ['sentinel', 'sentinel2']) {
            const sentinel = await writer.create<StoredObject>(kind, { ...wep(9, 0), metadata: { name: sentinelName, namespace: ns } });
            while (true) {
              const { value: event, done } = await iterator.next();
              if (done === true) throw new Error('watch ended');
              if (event.type === 'synced' || event.type === 'resynced') continue;
              const name = event.object.metadata.name;
              if (event.type === 'added') expect(consumer.has(name), `added ${name} which the consumer has`).toBe(false);
              else expect(consumer.has(name), `${event.type} ${name} which the consumer lacks`).toBe(true);
              if (event.type === 'deleted') consumer.delete(name);
              else consumer.set(name, event.object);
              if (event.type === 'added' && name === sentinelName && event.revision === sentinel.metadata.resourceVersion) break;
            }
          }
          const fresh = await writer.list(kind, { namespace: ns });
          const view = (m: Map<string, StoredObject>): Record<string, string | undefined> =>
            Object.fromEntries([...m.values()].map((o) => [o.metadata.name, o.metadata.resourceVersion]).sort());
          expect(view(consumer)).toEqual(view(new Map(fresh.items.map((o) => [o.metadata.name, o]))));
        } finally {
          watch.close();
        }
      }),
      { numRuns: Number(process.env.TORTIE_PROPERTY_RUNS ?? 25) },
    );
  });
});

describe('etcdv3 over TLS with client certificates', () => {
  let certificates: TestCertificates;
  let etcd: EtcdInstance;

  beforeAll(async () => {
    certificates = await makeTestCertificates();
    etcd = await startEtcd({
      tls: { certFile: certificates.serverCertFile, keyFile: certificates.serverKeyFile, caFile: certificates.caFile },
    });
  });
  afterAll(async () => {
    await etcd?.stop();
    await certificates?.remove();
  });

  it('works with the CA and a client certificate, and is unavailable without the certificate', async () => {
    expect(etcd.endpoint).toMatch(/^https:/);
    const ca = await readFile(certificates.caFile);
    const secure = createEtcdDatastore({
      endpoints: [etcd.endpoint],
      tls: { ca, cert: await readFile(certificates.clientCertFile), key: await readFile(certificates.clientKeyFile) },
    });
    const anonymous = createEtcdDatastore({ endpoints: [etcd.endpoint], tls: { ca }, requestTimeoutMs: 3000 });
    try {
      const created = await secure.create<StoredObject>(Kinds.IPPool, {
        apiVersion: Kinds.IPPool.apiVersion,
        kind: 'IPPool',
        metadata: { name: 'tls' },
        spec: { cidr: '10.0.0.0/16' },
      });
      const watch = secure.watch(Kinds.IPPool);
      const iterator = watch[Symbol.asyncIterator]();
      expect((await iterator.next()).value).toMatchObject({ type: 'added', revision: created.metadata.resourceVersion });
      watch.close();
      await expect(anonymous.get(Kinds.IPPool, 'tls')).rejects.toMatchObject({ code: 'ERR_DATASTORE_UNAVAILABLE' });
    } finally {
      await secure.close();
      await anonymous.close();
    }
  });

  it('refuses a client certificate without its key', () => {
    expect(() => createEtcdDatastore({ endpoints: [etcd.endpoint], tls: { ca: 'x', cert: 'y' } })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }),
    );
  });
});
