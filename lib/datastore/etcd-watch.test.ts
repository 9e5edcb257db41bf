import { EventEmitter } from 'node:events';
import type { IKeyValue, IWatchRequest, IWatchResponse } from 'etcd3';
import { afterEach, describe, expect, it } from 'vitest';
import { createEtcdDatastore, etcdKeyOf, type EtcdDatastore } from './etcd.js';
import { Kinds } from './kinds.js';
import type { StoredObject, Watch, WatchEvent } from './types.js';

// The etcd watch's state machine without etcd: etcd3's mock hands the
// backend fake Watch streams and canned range answers, so each test drives
// exactly the responses and failures it is about.

class FakeStream extends EventEmitter {
  readonly requests: IWatchRequest[] = [];
  isCancelled = false;
  /** grpc-js streams report writability; false keeps etcd3 from bookkeeping on a fake host. */
  readonly writable = false;
  write(request: IWatchRequest): void {
    this.requests.push(request);
  }
  cancel(): void {
    this.isCancelled = true;
  }
  end(): void {}
  respond(response: Partial<IWatchResponse>): void {
    this.emit('data', { header: { revision: '0' }, watch_id: '1', created: false, canceled: false, compact_revision: '0', cancel_reason: '', fragment: false, events: [], ...response });
  }
}

const kind = Kinds.IPPool;
const opened: EtcdDatastore[] = [];
const watches: Watch[] = [];
afterEach(async () => {
  for (const w of watches.splice(0)) w.close();
  for (const ds of opened.splice(0)) await ds.close();
});

function pool(name: string, revision: number): StoredObject {
  return { apiVersion: kind.apiVersion, kind: kind.kind, metadata: { name, resourceVersion: String(revision) }, spec: { revision } };
}

function kv(name: string, revision: number): IKeyValue {
  const { metadata, ...rest } = pool(name, revision);
  const { resourceVersion, ...stored } = metadata;
  void resourceVersion;
  return {
    key: Buffer.from(etcdKeyOf(kind, name)),
    value: Buffer.from(JSON.stringify({ ...rest, metadata: stored })),
    mod_revision: String(revision),
    create_revision: String(revision),
    version: '1',
    lease: '0',
  };
}

function setup(listAnswer: () => { kvs: IKeyValue[]; revision: number }): { ds: EtcdDatastore; streams: FakeStream[]; ranges: () => number } {
  const ds = createEtcdDatastore({ endpoints: ['127.0.0.1:1'], watchMaxBackoffMs: 400 });
  opened.push(ds);
  const streams: FakeStream[] = [];
  let ranges = 0;
  ds.client.mock({
    exec: async (_service: string, method: string) => {
      if (method !== 'range') throw new Error(`unexpected ${method}`);
      ranges += 1;
      const { kvs, revision } = listAnswer();
      return { header: { revision: String(revision) }, kvs, more: false, count: String(kvs.length) } as never;
    },
    withConnection: (async (_service: string, fn: (args: { resource: unknown; client: unknown; metadata: unknown }) => unknown) => {
      const stream = new FakeStream();
      streams.push(stream);
      return fn({ resource: {}, client: { watch: () => stream }, metadata: {} });
    }) as never,
  });
  return { ds, streams, ranges: () => ranges };
}

/** The n-th stream once the backend has sent its create request on it. */
function streamAt(streams: FakeStream[], n: number): () => FakeStream | undefined {
  return () => (streams[n]?.requests.length ? streams[n] : undefined);
}

async function until<T>(get: () => T | undefined, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = get();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function reader(watch: Watch): () => Promise<string> {
  watches.push(watch);
  const iterator = watch[Symbol.asyncIterator]();
  return async () => {
    const { value } = (await iterator.next()) as IteratorResult<WatchEvent>;
    return value.type === 'synced' || value.type === 'resynced' ? `${value.type}@${value.revision}` : `${value.type} ${value.object.metadata.name}@${value.revision}`;
  };
}

const put = (name: string, revision: number) => ({ type: 'Put' as const, kv: kv(name, revision), prev_kv: undefined as unknown as IKeyValue });

describe('etcd watch', () => {
  it('starts at the list revision and resumes a broken stream at the last delivered revision, without repeats', async () => {
    const { ds, streams } = setup(() => ({ kvs: [], revision: 1 }));
    const next = reader(ds.watch(kind, { from: { items: [], revision: '5' } }));
    const first = await until(streamAt(streams, 0));
    expect(first.requests[0]?.create_request?.start_revision).toBe('5');
    first.respond({ created: true });
    first.respond({ events: [put('a', 6)] });
    expect(await next()).toBe('added a@6');
    first.emit('error', new Error('14 UNAVAILABLE: Connection dropped'));
    const second = await until(streamAt(streams, 1));
    expect(first.isCancelled).toBe(true);
    expect(second.requests[0]?.create_request?.start_revision).toBe('6');
    second.respond({ created: true });
    second.respond({ events: [put('a', 6), put('b', 7)] });
    expect(await next()).toBe('added b@7');
  });

  it('a compaction cancel relists at once and delivers the difference in revision order, then resynced', async () => {
    const { ds, streams, ranges } = setup(() => ({ kvs: [kv('kept', 3), kv('changed', 9), kv('new', 8)], revision: 12 }));
    const from = { items: [pool('kept', 3), pool('changed', 4), pool('gone', 2)], revision: '5' };
    const next = reader(ds.watch(kind, { from }));
    const stream = await until(streamAt(streams, 0));
    stream.respond({ created: true });
    stream.respond({ canceled: true, compact_revision: '10' });
    expect([await next(), await next(), await next(), await next()]).toEqual(['added new@8', 'modified changed@9', 'deleted gone@12', 'resynced@12']);
    expect(ranges()).toBe(1);
    const after = await until(streamAt(streams, 1));
    expect(after.requests[0]?.create_request?.start_revision).toBe('12');
  });

  it('a cancel for another reason relists only after a back-off that grows', async () => {
    const { ds, streams, ranges } = setup(() => ({ kvs: [], revision: 20 }));
    reader(ds.watch(kind, { from: { items: [], revision: '5' } }));
    const first = await until(streamAt(streams, 0));
    const t0 = Date.now();
    first.respond({ created: true, canceled: true, cancel_reason: 'permission denied' });
    expect(ranges()).toBe(0);
    await until(() => (ranges() === 1 ? true : undefined));
    const second = await until(streamAt(streams, 1));
    const t1 = Date.now();
    second.respond({ created: true, canceled: true, cancel_reason: 'permission denied' });
    await until(() => (ranges() === 2 ? true : undefined));
    const t2 = Date.now();
    expect(t1 - t0).toBeGreaterThanOrEqual(40);
    expect(t2 - t1).toBeGreaterThanOrEqual(90);
  });

  it('close cancels the stream and ends the iteration', async () => {
    const { ds, streams } = setup(() => ({ kvs: [], revision: 1 }));
    const watch = ds.watch(kind, { from: { items: [], revision: '5' } });
    const iterator = watch[Symbol.asyncIterator]();
    const stream = await until(streamAt(streams, 0));
    const pending = iterator.next();
    watch.close();
    expect(stream.isCancelled).toBe(true);
    expect((await pending).done).toBe(true);
  });
});
