import { describe, expect, it } from 'vitest';
import { Kinds } from '../../../lib/datastore/kinds.js';
import type { StoredObject } from '../../../lib/datastore/types.js';
import { snapshotFromResources, snapshotKinds } from './snapshot-from-resources.js';

const ns: StoredObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x', labels: { team: 'a' } } };
const podObject: StoredObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', namespace: 'x', labels: { app: 'web' } },
  spec: { nodeName: 'node1', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }] },
  status: { phase: 'Running', podIP: '10.0.0.5' },
};
const policy: StoredObject = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'deny', namespace: 'x' }, spec: { podSelector: {} } };
const wep: StoredObject = {
  apiVersion: Kinds.WorkloadEndpoint.apiVersion,
  kind: 'WorkloadEndpoint',
  metadata: { name: 'node1-k8s-web-eth0', namespace: 'x', labels: { app: 'web' } },
  spec: { node: 'node1', pod: 'web', interfaceName: 'tor0123456789a', ipNetworks: ['10.0.0.6/32'] },
};

describe('snapshotFromResources', () => {
  it('lists Pods in Kubernetes mode and WorkloadEndpoints in etcd mode, as the loop watches them', () => {
    expect(snapshotKinds('kubernetes')).toContain(Kinds.K8sPod);
    expect(snapshotKinds('kubernetes')).not.toContain(Kinds.WorkloadEndpoint);
    expect(snapshotKinds('etcdv3')).toContain(Kinds.WorkloadEndpoint);
    expect(snapshotKinds('etcdv3')).not.toContain(Kinds.K8sPod);
  });

  it('converts a Pod (Kubernetes mode) with its address, labels and named ports', () => {
    const { snapshot, skipped } = snapshotFromResources('kubernetes', [
      { kind: Kinds.K8sPod, items: [podObject] },
      { kind: Kinds.K8sNamespace, items: [ns] },
      { kind: Kinds.K8sNetworkPolicy, items: [policy] },
    ]);
    expect(skipped).toEqual([]);
    expect(snapshot.endpoints).toMatchObject([{ namespace: 'x', name: 'web', ipv4: ['10.0.0.5'], labels: { app: 'web' }, ports: [{ name: 'http', port: 8080 }] }]);
    expect(snapshot.namespaces).toMatchObject([{ name: 'x', labels: { team: 'a' } }]);
    expect(snapshot.policies.map((p) => p.id)).toEqual(['knp/x/deny']);
  });

  it('converts a WorkloadEndpoint (etcd mode) and ignores kinds of the other mode', () => {
    const { snapshot } = snapshotFromResources('etcdv3', [
      { kind: Kinds.WorkloadEndpoint, items: [wep] },
      { kind: Kinds.K8sPod, items: [podObject] },
    ]);
    expect(snapshot.endpoints.map((e) => e.ipv4)).toEqual([['10.0.0.6']]);
  });

  it('reports what the schema refuses or the converter cannot use, and leaves it out', () => {
    const { snapshot, skipped } = snapshotFromResources('etcdv3', [
      { kind: Kinds.K8sNetworkPolicy, items: [{ ...policy, spec: { podSelector: {}, policyTypes: ['Sideways'] } }] },
      { kind: Kinds.WorkloadEndpoint, items: [{ ...wep, spec: { node: 'node1', pod: 'web', interfaceName: 'tor0123456789a', ipNetworks: ['nonsense'] } }] },
    ]);
    expect(snapshot.policies).toEqual([]);
    expect(snapshot.endpoints).toEqual([]);
    expect(skipped.map((s) => [s.kind, s.name])).toEqual([
      ['NetworkPolicy', 'x/deny'],
      ['WorkloadEndpoint', 'x/node1-k8s-web-eth0'],
    ]);
  });
});
