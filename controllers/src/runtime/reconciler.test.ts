import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createMemoryDatastore } from '../../../lib/datastore/memory.js';
import { Kinds, type KindInfo } from '../../../lib/datastore/kinds.js';
import type { Datastore, StoredObject, Watch, WatchEvent } from '../../../lib/datastore/types.js';
import { TortieError } from '../../../lib/errors.js';
import { Reconciler } from './reconciler.js';

const log = pino({ level: 'silent' });

function node(name: string): StoredObject {
  return { apiVersion: Kinds.Node.apiVersion, kind: 'Node', metadata: { name }, spec: {} };
}

async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The same datastore, but watches of `held` kinds deliver nothing until `release()`. */
function holdWatches(ds: Datastore, held: KindInfo): Datastore & { release(): void } {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  return {
    ...ds,
    type: ds.type,
    release: () => open(),
    watch<T extends StoredObject>(kind: KindInfo): Watch<T> {
      const inner = ds.watch<T>(kind);
      if (kind !== held) return inner;
      return {
        close: () => inner.close(),
        async *[Symbol.asyncIterator](): AsyncIterator<WatchEvent<T>> {
          await gate;
          yield* inner;
        },
      };
    },
  };
}

describe('Reconciler', () => {
  it('reconciles nothing until every input has synced, then every key once', async () => {
    const mem = createMemoryDatastore();
    await mem.create(Kinds.Node, node('a'));
    await mem.create(Kinds.Node, node('b'));
    const ds = holdWatches(mem, Kinds.WorkloadEndpoint);
    const seen: string[] = [];
    const r = new Reconciler({
      name: 'test',
      datastore: ds,
      inputs: [Kinds.Node, Kinds.WorkloadEndpoint],
      keysFor: (c) => [(c.current ?? c.old)!.metadata.name],
      allKeys: (cache) => cache.list(Kinds.Node).map((n) => n.metadata.name),
      reconcile: async (key) => void seen.push(key),
      log,
    });
    r.start();
    await new Promise((res) => setTimeout(res, 50));
    expect(r.hasSynced).toBe(false);
    expect(seen).toEqual([]);
    ds.release();
    await until(() => seen.length === 2, 'the first keys');
    expect(seen.sort()).toEqual(['a', 'b']);
    expect(r.hasSynced).toBe(true);

    await mem.create(Kinds.Node, node('c'));
    await until(() => seen.includes('c'), 'the key of a change');
    await mem.delete(Kinds.Node, 'a');
    await until(() => seen.filter((k) => k === 'a').length === 2, 'the key of a deletion');
    await r.stop();
    await mem.close();
  });

  it('a failed reconcile is retried with back-off until it succeeds', async () => {
    const mem = createMemoryDatastore();
    await mem.create(Kinds.Node, node('a'));
    let calls = 0;
    const r = new Reconciler({
      name: 'test',
      datastore: mem,
      inputs: [Kinds.Node],
      keysFor: () => [],
      allKeys: () => ['a'],
      reconcile: async () => {
        calls++;
        if (calls < 3) throw new TortieError('ERR_DATASTORE_CONFLICT', 'lost a race');
      },
      log,
      queue: { baseDelayMs: 10 },
    });
    r.start();
    await until(() => calls === 3, 'the third attempt');
    await until(() => r.health().consecutiveFailures === 0, 'success');
    expect(r.health()).toMatchObject({ failed: 2, reconciled: 1, hasSynced: true });
    await r.stop();
    await mem.close();
  });

  it('requeueAfterMs reconciles a key again with no change', async () => {
    const mem = createMemoryDatastore();
    let calls = 0;
    const r = new Reconciler({
      name: 'test',
      datastore: mem,
      inputs: [Kinds.Node],
      keysFor: () => [],
      allKeys: () => ['k'],
      reconcile: async () => {
        calls++;
        return calls < 3 ? { requeueAfterMs: 10 } : undefined;
      },
      log,
    });
    r.start();
    await until(() => calls === 3, 'three passes');
    await r.stop();
    await mem.close();
  });

  it('reopens a watch that failed and reports what changed meanwhile', async () => {
    const mem = createMemoryDatastore();
    await mem.create(Kinds.Node, node('a'));
    let failNext = true;
    const ds: Datastore = {
      ...mem,
      type: mem.type,
      watch<T extends StoredObject>(kind: KindInfo): Watch<T> {
        const inner = mem.watch<T>(kind);
        if (!failNext) return inner;
        failNext = false;
        return {
          close: () => inner.close(),
          async *[Symbol.asyncIterator](): AsyncIterator<WatchEvent<T>> {
            for await (const e of inner) {
              yield e;
              if (e.type === 'synced') {
                // The connection drops; meanwhile a node goes and another comes.
                await mem.delete(Kinds.Node, 'a');
                await mem.create(Kinds.Node, node('b'));
                throw new TortieError('ERR_DATASTORE_UNAVAILABLE', 'connection reset');
              }
            }
          },
        };
      },
    };
    const seen: string[] = [];
    const r = new Reconciler({
      name: 'test',
      datastore: ds,
      inputs: [Kinds.Node],
      keysFor: (c) => [`${c.type}:${(c.current ?? c.old)!.metadata.name}`],
      allKeys: () => [],
      reconcile: async (key) => void seen.push(key),
      log,
      watchRetryMs: 5,
    });
    r.start();
    await until(() => seen.includes('deleted:a') && seen.includes('added:b'), 'the changes across the reconnect');
    expect(r.cache.list(Kinds.Node).map((n) => n.metadata.name)).toEqual(['b']);
    await r.stop();
    await mem.close();
  });
});
