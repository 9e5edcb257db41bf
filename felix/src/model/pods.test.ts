import { describe, expect, it } from 'vitest';
import { hostVethName } from '../../../cni/src/plan.js';
import { fromK8sPod, type K8sPod } from './pods.js';

const base: K8sPod = {
  metadata: { name: 'web', namespace: 'prod', labels: { app: 'web' } },
  spec: {
    nodeName: 'node1',
    serviceAccountName: 'web-sa',
    containers: [{ ports: [{ name: 'http', containerPort: 8080 }, { containerPort: 9000 }, { name: 'dns', containerPort: 53, protocol: 'UDP' }] }],
  },
  status: { phase: 'Running', podIPs: [{ ip: '10.65.0.2' }, { ip: 'fd00:0::2' }] },
};

describe('fromK8sPod', () => {
  it('takes labels, service account, named ports, addresses and the CNI plugin interface name', () => {
    expect(fromK8sPod(base)).toEqual({
      ok: true,
      value: {
        namespace: 'prod',
        name: 'web',
        node: 'node1',
        interfaceName: hostVethName({ containerId: '', podNamespace: 'prod', podName: 'web' }),
        ipv4: ['10.65.0.2'],
        ipv6: ['fd00::2'],
        labels: { app: 'web' },
        serviceAccount: 'web-sa',
        ports: [
          { name: 'http', protocol: 'TCP', port: 8080 },
          { name: 'dns', protocol: 'UDP', port: 53 },
        ],
      },
    });
  });

  it('prefers the CNI plugin annotation to status (it is there before the kubelet reports)', () => {
    const r = fromK8sPod({ ...base, metadata: { ...base.metadata, annotations: { 'tortie.dev/podIPs': '10.65.0.7/32' } } });
    expect(r?.ok && r.value.ipv4).toEqual(['10.65.0.7']);
  });

  it.each([
    ['host-network pods', { ...base, spec: { ...base.spec, hostNetwork: true } }],
    ['pods not scheduled', { ...base, spec: { ...base.spec, nodeName: undefined } }],
    ['finished pods', { ...base, status: { ...base.status, phase: 'Succeeded' } }],
    ['pods without an address yet', { ...base, status: { phase: 'Pending' } }],
  ] as const)('is not an endpoint for %s', (_n, pod) => {
    expect(fromK8sPod(pod as K8sPod)).toBeNull();
  });

  it('refuses a malformed address', () => {
    expect(fromK8sPod({ ...base, status: { podIP: 'nope' } })).toMatchObject({ ok: false });
  });
});
