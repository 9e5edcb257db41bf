import { CompareTarget, GRPCInvalidArgumentError, GRPCUnavailableError } from 'etcd3';
import { afterEach, describe, expect, it } from 'vitest';
import { createEtcdDatastore, etcdKeyOf, etcdPrefixOf, type EtcdDatastore } from './etcd.js';
import { Kinds } from './kinds.js';
import type { StoredObject } from './types.js';

// The etcd backend without etcd: etcd3's mock answers every call, so these
// tests see exactly what the backend asks for. test/integration/datastore/
// runs the conformance suite against a real etcd.

interface Call {
  service: string;
  method: string;
  params: Record<string, unknown>;
}

const opened: EtcdDatastore[] = [];
afterEach(async () => {
  for (const ds of opened.splice(0)) await ds.close();
});

function mocked(answer: (call: Call) => unknown): { ds: EtcdDatastore; calls: Call[] } {
  const ds = createEtcdDatastore({ endpoints: ['http://127.0.0.1:1'] });
  opened.push(ds);
  const calls: Call[] = [];
  ds.client.mock({
    exec: async (service: string, method: string, params: unknown) => {
      const call = { service, method, params: params as Record<string, unknown> };
      calls.push(call);
      return answer(call) as never;
    },
  });
  return { ds, calls };
}

const pool = (name: string): StoredObject => ({
  apiVersion: Kinds.IPPool.apiVersion,
  kind: 'IPPool',
  metadata: { name, resourceVersion: '99', uid: 'forged' },
  spec: { cidr: '10.0.0.0/16' },
});

describe('etcd key layout', () => {
  it.each([
    [Kinds.IPPool, 'default-ipv4-ippool', undefined, '/tortie/v1/crd.tortie.dev/ippools/default-ipv4-ippool'],
    [Kinds.WorkloadEndpoint, 'node1-k8s-web-eth0', 'prod', '/tortie/v1/crd.tortie.dev/workloadendpoints/prod/node1-k8s-web-eth0'],
    [Kinds.K8sNamespace, 'prod', undefined, '/tortie/v1/core/namespaces/prod'],
    [Kinds.K8sPod, 'web-0', 'prod', '/tortie/v1/core/pods/prod/web-0'],
    [Kinds.K8sNetworkPolicy, 'deny', 'prod', '/tortie/v1/networking.k8s.io/networkpolicies/prod/deny'],
    [Kinds.NetworkPolicy, 'deny', 'prod', '/tortie/v1/crd.tortie.dev/networkpolicies/prod/deny'],
  ])('%s.kind %s in %s is %s', (kind, name, namespace, key) => {
    expect(etcdKeyOf(kind, name, namespace)).toBe(key);
  });

  it('a namespace prefix ends in "/" so that "prod" does not cover "prod2"', () => {
    expect(etcdPrefixOf(Kinds.WorkloadEndpoint, 'prod')).toBe('/tortie/v1/crd.tortie.dev/workloadendpoints/prod/');
    expect(etcdPrefixOf(Kinds.WorkloadEndpoint)).toBe('/tortie/v1/crd.tortie.dev/workloadendpoints/');
  });

  it.each([['a/b'], [''], ['x'.repeat(254)]])('refuses the name %j', (name) => {
    expect(() => etcdKeyOf(Kinds.IPPool, name)).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }));
  });

  it('refuses a namespaced kind without a namespace', () => {
    expect(() => etcdKeyOf(Kinds.WorkloadEndpoint, 'w')).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }));
  });
});

describe('EtcdDatastore requests', () => {
  it('create is one txn on create_revision == 0 that stores JSON without resourceVersion, with a fresh uid', async () => {
    const { ds, calls } = mocked(() => ({ header: { revision: '7' }, succeeded: true, responses: [] }));
    const created = await ds.create(Kinds.IPPool, pool('p'));
    expect(calls).toHaveLength(1);
    const txn = calls[0]?.params as { compare: Array<Record<string, unknown>>; success: Array<{ request_put: { value: Buffer } }> };
    expect(calls[0]?.method).toBe('txn');
    expect(txn.compare[0]).toMatchObject({ target: CompareTarget.Create, create_revision: 0 });
    const stored = JSON.parse(txn.success[0]?.request_put.value.toString() ?? '{}') as StoredObject;
    expect(stored.metadata.resourceVersion).toBeUndefined();
    expect(stored.metadata.uid).not.toBe('forged');
    expect(created.metadata).toMatchObject({ name: 'p', resourceVersion: '7', uid: stored.metadata.uid });
  });

  it('a create that loses the compare is ERR_DATASTORE_ALREADY_EXISTS', async () => {
    const { ds } = mocked(() => ({ header: { revision: '7' }, succeeded: false, responses: [] }));
    await expect(ds.create(Kinds.IPPool, pool('p'))).rejects.toMatchObject({ code: 'ERR_DATASTORE_ALREADY_EXISTS' });
  });

  it('update without a resourceVersion is ERR_VALIDATION and sends nothing', async () => {
    const { ds, calls } = mocked(() => ({}));
    const object = pool('p');
    delete object.metadata.resourceVersion;
    await expect(ds.update(Kinds.IPPool, object)).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
    expect(calls).toEqual([]);
  });

  it('update tells CONFLICT from NOT_FOUND by the else-read of the same txn', async () => {
    const existing = { key: Buffer.from('k'), value: Buffer.from('{}'), mod_revision: '12' };
    let kvs: unknown[] = [existing];
    const { ds, calls } = mocked(() => ({ header: { revision: '13' }, succeeded: false, responses: [{ response_range: { kvs } }] }));
    const object = { ...pool('p'), metadata: { ...pool('p').metadata, creationTimestamp: '2026-01-01T00:00:00Z' } };
    await expect(ds.update(Kinds.IPPool, object)).rejects.toMatchObject({ code: 'ERR_DATASTORE_CONFLICT' });
    kvs = [];
    await expect(ds.update(Kinds.IPPool, object)).rejects.toMatchObject({ code: 'ERR_DATASTORE_NOT_FOUND' });
    expect(calls).toHaveLength(2);
    expect((calls[0]?.params as { compare: unknown[] }).compare[0]).toMatchObject({ target: CompareTarget.Mod, mod_revision: '99' });
  });

  it('an unreachable etcd is ERR_DATASTORE_UNAVAILABLE naming the endpoint', async () => {
    const { ds } = mocked(() => {
      throw new GRPCUnavailableError('14 UNAVAILABLE: No connection established');
    });
    await expect(ds.get(Kinds.IPPool, 'p')).rejects.toMatchObject({
      code: 'ERR_DATASTORE_UNAVAILABLE',
      message: expect.stringContaining('http://127.0.0.1:1'),
    });
  });

  it('a request etcd refuses as invalid (too large) is ERR_VALIDATION', async () => {
    const { ds } = mocked(() => {
      throw new GRPCInvalidArgumentError('etcdserver: request is too large');
    });
    await expect(ds.create(Kinds.IPPool, pool('p'))).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
  });
});
