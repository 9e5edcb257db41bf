import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EndpointPlan } from '../calc/desired.js';
import { EndpointStatusFiles, desiredEndpointStatus, planEndpointStatus } from './endpoint-status.js';

const open = { stages: [], fallthrough: 'allow' as const };
const workload = (interfaceName: string, ipv4: string[], ipv6: string[] = []): EndpointPlan => ({
  id: `x/${interfaceName}`,
  interfaceName,
  ipv4,
  ipv6,
  ingress: open,
  egress: open,
});

describe('desiredEndpointStatus and planEndpointStatus', () => {
  it('one file per workload, named after its host interface, saying its endpoint and addresses', () => {
    const files = desiredEndpointStatus([workload('tora', ['10.0.0.1'], ['fd00::1'])]);
    expect([...files.keys()]).toEqual(['tora']);
    expect(JSON.parse(files.get('tora')!)).toEqual({ endpoint: 'x/tora', interfaceName: 'tora', addresses: ['10.0.0.1', 'fd00::1'] });
  });

  it.each([
    { what: 'nothing on disk: write all', desired: { a: '1', b: '2' }, actual: {}, write: ['a', 'b'], remove: [] },
    { what: 'the same state: nothing', desired: { a: '1' }, actual: { a: '1' }, write: [], remove: [] },
    { what: 'a changed address: rewrite that one', desired: { a: '1', b: '3' }, actual: { a: '1', b: '2' }, write: ['b'], remove: [] },
    { what: 'an endpoint gone: remove its file', desired: { a: '1' }, actual: { a: '1', z: '9' }, write: [], remove: ['z'] },
  ])('$what', ({ desired, actual, write, remove }) => {
    const plan = planEndpointStatus(new Map(Object.entries(desired)), new Map(Object.entries(actual)));
    expect(plan.write.map((w) => w.name)).toEqual(write);
    expect(plan.remove).toEqual(remove);
  });
});

describe('EndpointStatusFiles', () => {
  let dir: string;
  beforeEach(async () => {
    dir = join(await mkdtemp(join(tmpdir(), 'tortie-status-')), 'endpoint-status');
  });
  afterEach(async () => {
    await rm(join(dir, '..'), { recursive: true, force: true });
  });

  it('creates the directory, writes the files, rewrites a changed one and removes a gone one', async () => {
    const files = new EndpointStatusFiles(dir);
    await files.reconcile([workload('tora', ['10.0.0.1']), workload('torb', ['10.0.0.2'])]);
    expect((await readdir(dir)).sort()).toEqual(['tora', 'torb']);
    await files.reconcile([workload('tora', ['10.0.0.3'])]);
    expect(await readdir(dir)).toEqual(['tora']);
    expect(JSON.parse(await readFile(join(dir, 'tora'), 'utf8'))).toMatchObject({ addresses: ['10.0.0.3'] });
  });

  it('a new instance (a restart) removes files of endpoints that went while it was away, and leftover temporary files', async () => {
    await new EndpointStatusFiles(dir).reconcile([workload('tora', ['10.0.0.1']), workload('torgone', ['10.0.0.9'])]);
    await writeFile(join(dir, '.tmp-torb'), '{"half');
    await new EndpointStatusFiles(dir).reconcile([workload('tora', ['10.0.0.1'])]);
    expect(await readdir(dir)).toEqual(['tora']);
  });

  it('after a failure it reads the directory again, so a file someone removed is written back', async () => {
    const files = new EndpointStatusFiles(dir);
    await files.reconcile([workload('tora', ['10.0.0.1'])]);
    await rm(dir, { recursive: true });
    await writeFile(dir, 'not a directory');
    await expect(files.reconcile([workload('tora', ['10.0.0.1']), workload('torb', ['10.0.0.2'])])).rejects.toThrow();
    await rm(dir);
    await files.reconcile([workload('tora', ['10.0.0.1'])]);
    expect(await readdir(dir)).toEqual(['tora']);
  });
});
