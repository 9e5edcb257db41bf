import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Kinds } from '../../../lib/datastore/kinds.js';
import { createMemoryDatastore } from '../../../lib/datastore/memory.js';
import type { Datastore } from '../../../lib/datastore/types.js';
import { TortieError } from '../../../lib/errors.js';
import { parseConfigFromEnv } from '../config.js';
import type { CommandContext } from '../context.js';
import { withDeadline } from '../datastore.js';
import { runDelete } from './delete.js';
import { runGet } from './get.js';
import { runWrite } from './write.js';

/**
 * The commands against the in-memory datastore (same CAS rules as etcd): the
 * logic of apply/create/replace/delete/get without processes. The same
 * behaviours through the real binary and a real etcd: test/integration/cli.
 */
interface Captured {
  ctx: CommandContext;
  out: string[];
  err: string[];
}

function contextFor(datastore: Datastore, stdin = ''): Captured {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CommandContext = {
    config: parseConfigFromEnv({}),
    datastore: async () => datastore,
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    readStdin: async () => stdin,
  };
  return { ctx, out, err };
}

const pool = (name: string, extra = '') => `apiVersion: crd.tortie.dev/v1
kind: IPPool
metadata:
  name: ${name}
spec:
  cidr: 10.0.0.0/16
${extra}`;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tortie-cli-commands-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const files = (...filename: string[]) => ({ filename, recursive: false, namespace: undefined });

describe('apply', () => {
  it('creates, then reports unchanged, then configured after a change', async () => {
    const datastore = createMemoryDatastore();
    const file = join(dir, 'p.yaml');
    await writeFile(file, pool('p'));
    const first = contextFor(datastore);
    expect(await runWrite(first.ctx, 'apply', files(file))).toBe(0);
    const second = contextFor(datastore);
    expect(await runWrite(second.ctx, 'apply', files(file))).toBe(0);
    await writeFile(file, pool('p', '  blockSize: 24\n'));
    const third = contextFor(datastore);
    expect(await runWrite(third.ctx, 'apply', files(file))).toBe(0);
    expect([first.out, second.out, third.out]).toEqual([
      ['ippool.crd.tortie.dev/p created\n'],
      ['ippool.crd.tortie.dev/p unchanged\n'],
      ['ippool.crd.tortie.dev/p configured\n'],
    ]);
    expect((await datastore.get(Kinds.IPPool, 'p'))?.spec).toMatchObject({ blockSize: 24 });
  });

  it('writes nothing when any document is invalid, and lists every problem with file and document number', async () => {
    const datastore = createMemoryDatastore();
    const file = join(dir, 'mixed.yaml');
    await writeFile(file, `${pool('good')}---\n${pool('bad', '  colour: red\n  ipipMode: Sometimes\n')}`);
    const { ctx, out } = contextFor(datastore);
    const failure = await runWrite(ctx, 'apply', files(file)).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(TortieError);
    const lines = (failure as TortieError).message.split('\n');
    expect((failure as TortieError).code).toBe('ERR_VALIDATION');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) expect(line).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: document 2 \\(IPPool/bad\\): spec\\.(colour|ipipMode): `));
    expect(out).toEqual([]);
    expect(datastore.revision).toBe(0);
  });

  it('re-reads and retries when another writer changes the object between its get and its update', async () => {
    const inner = createMemoryDatastore();
    await inner.create(Kinds.IPPool, { apiVersion: 'crd.tortie.dev/v1', kind: 'IPPool', metadata: { name: 'p' }, spec: { cidr: '10.0.0.0/16' } });
    let raced = false;
    const racing: Datastore = {
      ...inner,
      type: inner.type,
      get: (kind, name, namespace) => inner.get(kind, name, namespace),
      list: (kind, options) => inner.list(kind, options),
      watch: (kind, options) => inner.watch(kind, options),
      create: (kind, object) => inner.create(kind, object),
      delete: (kind, name, namespace, options) => inner.delete(kind, name, namespace, options),
      close: () => inner.close(),
      update: async (kind, object) => {
        if (!raced) {
          raced = true;
          const current = await inner.get(kind, object.metadata.name);
          if (current !== null) await inner.update(kind, { ...current, metadata: { ...current.metadata, labels: { by: 'someone-else' } } });
        }
        return inner.update(kind, object);
      },
    };
    const file = join(dir, 'p.yaml');
    await writeFile(file, pool('p', '  blockSize: 28\n'));
    const { ctx, out } = contextFor(racing);
    expect(await runWrite(ctx, 'apply', files(file))).toBe(0);
    expect(raced).toBe(true);
    expect(out).toEqual(['ippool.crd.tortie.dev/p configured\n']);
    expect((await inner.get(Kinds.IPPool, 'p'))?.spec).toMatchObject({ blockSize: 28 });
  });

  it('places namespaced objects that name no namespace in -n, and refuses one that names another', async () => {
    const datastore = createMemoryDatastore();
    const policy = (ns: string) => `apiVersion: crd.tortie.dev/v1\nkind: NetworkPolicy\nmetadata:\n  name: np\n${ns}spec:\n  selector: all()\n`;
    await writeFile(join(dir, 'a.yaml'), policy(''));
    const { ctx } = contextFor(datastore);
    expect(await runWrite(ctx, 'apply', { ...files(join(dir, 'a.yaml')), namespace: 'prod' })).toBe(0);
    expect(await datastore.get(Kinds.NetworkPolicy, 'np', 'prod')).not.toBeNull();
    await writeFile(join(dir, 'b.yaml'), policy('  namespace: dev\n'));
    await expect(runWrite(ctx, 'apply', { ...files(join(dir, 'b.yaml')), namespace: 'prod' })).rejects.toMatchObject({
      code: 'ERR_VALIDATION',
      message: expect.stringMatching(/metadata\.namespace: is "dev" but -n says "prod"/),
    });
  });
});

describe('create, replace and delete', () => {
  it('create refuses an existing object (exit 3) but still creates the others', async () => {
    const datastore = createMemoryDatastore();
    await writeFile(join(dir, 'a.yaml'), pool('a'));
    await writeFile(join(dir, 'b.yaml'), pool('b'));
    expect(await runWrite(contextFor(datastore).ctx, 'create', files(join(dir, 'a.yaml')))).toBe(0);
    const { ctx, out, err } = contextFor(datastore);
    expect(await runWrite(ctx, 'create', files(dir))).toBe(3);
    expect(err).toEqual(['ippool.crd.tortie.dev/a: already exists; use apply or replace to change it\n']);
    expect(out).toEqual(['ippool.crd.tortie.dev/b created\n']);
  });

  it('replace with a stale resourceVersion in the file is a conflict (exit 3)', async () => {
    const datastore = createMemoryDatastore();
    await writeFile(join(dir, 'p.yaml'), pool('p'));
    await runWrite(contextFor(datastore).ctx, 'apply', files(join(dir, 'p.yaml')));
    const stored = await datastore.get(Kinds.IPPool, 'p');
    await datastore.update(Kinds.IPPool, { ...stored!, metadata: { ...stored!.metadata, labels: { a: 'b' } } });
    await writeFile(join(dir, 'stale.yaml'), pool('p', '  blockSize: 27\n').replace('  name: p\n', `  name: p\n  resourceVersion: "${stored!.metadata.resourceVersion}"\n`));
    const { ctx, err } = contextFor(datastore);
    expect(await runWrite(ctx, 'replace', files(join(dir, 'stale.yaml')))).toBe(3);
    expect(err[0]).toMatch(/^ippool\.crd\.tortie\.dev\/p: changed since resourceVersion \d+; /);
  });

  it('delete KIND NAME and delete -f from stdin', async () => {
    const datastore = createMemoryDatastore();
    await writeFile(join(dir, 'p.yaml'), `${pool('a')}---\n${pool('b')}`);
    await runWrite(contextFor(datastore).ctx, 'apply', files(join(dir, 'p.yaml')));
    const byName = contextFor(datastore);
    expect(await runDelete(byName.ctx, { kind: 'ippools', names: ['a'] }, { ...files(), ignoreNotFound: false })).toBe(0);
    expect(byName.out).toEqual(['ippool.crd.tortie.dev/a deleted\n']);
    const byFile = contextFor(datastore, pool('b'));
    expect(await runDelete(byFile.ctx, { kind: undefined, names: [] }, { ...files('-'), ignoreNotFound: false })).toBe(0);
    expect(byFile.out).toEqual(['ippool.crd.tortie.dev/b deleted\n']);
    expect(datastore.revision).toBe(4);
  });

  it('delete -f only needs to know which object a document names, not that the rest is valid', async () => {
    const datastore = createMemoryDatastore();
    await writeFile(join(dir, 'p.yaml'), pool('p'));
    await runWrite(contextFor(datastore).ctx, 'apply', files(join(dir, 'p.yaml')));
    const { ctx, out } = contextFor(datastore, 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {blockSize: 99}\n');
    expect(await runDelete(ctx, { kind: undefined, names: [] }, { ...files('-'), ignoreNotFound: false })).toBe(0);
    expect(out).toEqual(['ippool.crd.tortie.dev/p deleted\n']);
  });
});

describe('get', () => {
  it('prints a table sorted by name, -o name, and exit 3 with a line per missing name', async () => {
    const datastore = createMemoryDatastore();
    await writeFile(join(dir, 'p.yaml'), `${pool('zeta')}---\n${pool('alpha')}`);
    await runWrite(contextFor(datastore).ctx, 'apply', files(join(dir, 'p.yaml')));
    const options = { output: 'table' as const, namespace: undefined, allNamespaces: false, selector: undefined };
    const table = contextFor(datastore);
    expect(await runGet(table.ctx, 'ippools', [], options)).toBe(0);
    expect(table.out.join('')).toBe('NAME    CIDR          SELECTOR\nalpha   10.0.0.0/16   all()\nzeta    10.0.0.0/16   all()\n');
    const names = contextFor(datastore);
    await runGet(names.ctx, 'IPPool', [], { ...options, output: 'name' });
    expect(names.out.join('')).toBe('ippool.crd.tortie.dev/alpha\nippool.crd.tortie.dev/zeta\n');
    const missing = contextFor(datastore);
    expect(await runGet(missing.ctx, 'ippool/nope', [], options)).toBe(3);
    expect(missing.err).toEqual(['ippool.crd.tortie.dev/nope not found\n']);
    expect(missing.out).toEqual([]);
  });
});

describe('withDeadline', () => {
  it('turns a request that never answers into ERR_DATASTORE_UNAVAILABLE naming the datastore', async () => {
    const silent = createMemoryDatastore();
    const hanging: Datastore = { ...silent, type: silent.type, list: () => new Promise(() => {}) } as Datastore;
    const bounded = withDeadline(hanging, 50, 'etcd at http://127.0.0.1:1', 'is etcd running?');
    await expect(bounded.list(Kinds.IPPool)).rejects.toMatchObject({
      code: 'ERR_DATASTORE_UNAVAILABLE',
      message: 'etcd at http://127.0.0.1:1 did not answer within 0.05s; is etcd running?',
    });
  });
});
