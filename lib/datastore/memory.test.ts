import { describe, expect, it } from 'vitest';
import { Kinds } from './kinds.js';
import { describeDatastoreConformance } from './conformance.js';
import { createMemoryDatastore, parseLabelSelector } from './memory.js';
import { hasErrorCode } from '../errors.js';
import type { StoredObject, WatchEvent } from './types.js';

const pool = (name: string, labels: Record<string, string> = {}): StoredObject => ({
  apiVersion: 'crd.tortie.dev/v1',
  kind: 'IPPool',
  metadata: { name, labels },
  spec: { cidr: '10.0.0.0/16' },
});

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

describe('memory datastore', () => {
  it('create fails on a taken name; update is compare-and-swap on resourceVersion', async () => {
    const ds = createMemoryDatastore();
    const a = await ds.create(Kinds.IPPool, pool('a'));
    expect(a.metadata.resourceVersion).toBe('1');
    expect(await code(ds.create(Kinds.IPPool, pool('a')))).toBe('ERR_DATASTORE_ALREADY_EXISTS');
    const a2 = await ds.update(Kinds.IPPool, { ...a, spec: { cidr: '10.1.0.0/16' } });
    expect(a2.metadata.resourceVersion).toBe('2');
    expect(await code(ds.update(Kinds.IPPool, { ...a, spec: {} }))).toBe('ERR_DATASTORE_CONFLICT');
    expect(await code(ds.delete(Kinds.IPPool, 'a', undefined, { resourceVersion: '1' }))).toBe('ERR_DATASTORE_CONFLICT');
    expect((await ds.delete(Kinds.IPPool, 'a', undefined, { resourceVersion: '2' })).spec).toEqual({ cidr: '10.1.0.0/16' });
    expect(await code(ds.delete(Kinds.IPPool, 'a'))).toBe('ERR_DATASTORE_NOT_FOUND');
    expect(await ds.get(Kinds.IPPool, 'a')).toBeNull();
  });

  it('hands out copies: changing a returned object changes nothing stored', async () => {
    const ds = createMemoryDatastore();
    const a = await ds.create(Kinds.IPPool, pool('a'));
    (a.spec as { cidr: string }).cidr = 'changed';
    expect((await ds.get<StoredObject & { spec: { cidr: string } }>(Kinds.IPPool, 'a'))?.spec.cidr).toBe('10.0.0.0/16');
  });

  it('lists by label selector and namespace', async () => {
    const ds = createMemoryDatastore();
    await ds.create(Kinds.IPPool, pool('a', { tier: 'web' }));
    await ds.create(Kinds.IPPool, pool('b', { tier: 'db' }));
    await ds.create(Kinds.IPPool, pool('c'));
    const names = async (sel: string) => (await ds.list(Kinds.IPPool, { labelSelector: sel })).items.map((i) => i.metadata.name);
    expect(await names('tier=web')).toEqual(['a']);
    expect(await names('tier!=web')).toEqual(['b', 'c']);
    expect(await names('tier in (web, db)')).toEqual(['a', 'b']);
    expect(await names('!tier')).toEqual(['c']);
    expect(await names('tier,tier notin (db)')).toEqual(['a']);
    expect(hasErrorCode((() => { try { parseLabelSelector('a in b'); } catch (e) { return e; } })(), 'ERR_SELECTOR_SYNTAX')).toBe(true);
  });

  it('watch delivers existing objects, synced, then changes; from a list it delivers only what followed', async () => {
    const ds = createMemoryDatastore();
    await ds.create(Kinds.IPPool, pool('a'));
    const listed = await ds.list(Kinds.IPPool);
    const w = ds.watch(Kinds.IPPool);
    const w2 = ds.watch(Kinds.IPPool, { from: listed });
    await ds.create(Kinds.IPPool, pool('b'));
    await ds.delete(Kinds.IPPool, 'a');
    const take = async (n: number, it: AsyncIterable<WatchEvent>) => {
      const out: string[] = [];
      for await (const e of it) {
        out.push(e.type === 'synced' || e.type === 'resynced' ? e.type : `${e.type} ${e.object.metadata.name}`);
        if (out.length === n) break;
      }
      return out;
    };
    expect(await take(4, w)).toEqual(['added a', 'synced', 'added b', 'deleted a']);
    expect(await take(2, w2)).toEqual(['added b', 'deleted a']);
    await ds.close();
  });
});

// The same contract every backend passes (lib/datastore/conformance.ts).
describeDatastoreConformance('memory', async () => {
  const datastore = createMemoryDatastore();
  return { datastore, compact: () => datastore.compact(), teardown: () => datastore.close() };
});
