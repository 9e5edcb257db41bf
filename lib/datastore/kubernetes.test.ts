import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Kinds } from './kinds.js';
import { createKubernetesDatastore, resourcePath } from './kubernetes.js';

// The backend's behaviour over HTTP is tested against the in-repo API server in
// test/integration/datastore/kubernetes.test.ts; here only what needs no server.

describe('resourcePath', () => {
  it.each([
    [Kinds.IPPool, undefined, undefined, '/apis/crd.tortie.dev/v1/ippools'],
    [Kinds.IPPool, undefined, 'default-ipv4-ippool', '/apis/crd.tortie.dev/v1/ippools/default-ipv4-ippool'],
    [Kinds.WorkloadEndpoint, 'ns1', undefined, '/apis/crd.tortie.dev/v1/namespaces/ns1/workloadendpoints'],
    [Kinds.WorkloadEndpoint, undefined, undefined, '/apis/crd.tortie.dev/v1/workloadendpoints'],
    [Kinds.K8sPod, 'kube-system', 'coredns-1', '/api/v1/namespaces/kube-system/pods/coredns-1'],
    [Kinds.K8sNamespace, undefined, 'default', '/api/v1/namespaces/default'],
    [Kinds.K8sNode, undefined, undefined, '/api/v1/nodes'],
    [Kinds.Node, undefined, undefined, '/apis/crd.tortie.dev/v1/nodes'],
    [Kinds.K8sNetworkPolicy, 'web', 'deny', '/apis/networking.k8s.io/v1/namespaces/web/networkpolicies/deny'],
  ])('%s in %s named %s is at the right REST path', (kind, namespace, name, path) => {
    expect(resourcePath(kind, namespace, name)).toBe(path);
  });

  it('escapes names that are not path-safe', () => {
    expect(resourcePath(Kinds.IPAMHandle, undefined, 'k8s-pod-network.a/b')).toBe('/apis/crd.tortie.dev/v1/ipamhandles/k8s-pod-network.a%2Fb');
  });

  it('ignores a namespace for a cluster-scoped kind', () => {
    expect(resourcePath(Kinds.IPPool, 'ns1', 'p')).toBe('/apis/crd.tortie.dev/v1/ippools/p');
  });
});

describe('createKubernetesDatastore', () => {
  // Inside a pod, the service account's token is found last and this would load it.
  const inPod = existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token');
  it.skipIf(inPod)('with no kubeconfig anywhere is ERR_CONFIG_INVALID saying where it looked (skipped in a pod)', () => {
    const saved = { KUBECONFIG: process.env['KUBECONFIG'], HOME: process.env['HOME'] };
    process.env['KUBECONFIG'] = '';
    process.env['HOME'] = '/nonexistent';
    try {
      expect(() => createKubernetesDatastore()).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID', message: expect.stringContaining('KUBECONFIG') }));
    } finally {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });

  it('a kubeconfig that cannot be read is ERR_CONFIG_INVALID', () => {
    expect(() => createKubernetesDatastore({ kubeconfigPath: '/nonexistent/kubeconfig' })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }),
    );
  });
});
