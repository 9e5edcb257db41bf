import { describe, expect, it } from 'vitest';
import { ANNOTATION_POD_IP, ANNOTATION_POD_IPS } from '../../../lib/contract.js';
import { namedPortsOf, podIpAnnotations, recordedAddressesWithin, type PodObject } from './pod.js';

describe('podIpAnnotations', () => {
  it('sets the first address and the list, keeping the other annotations', () => {
    expect(podIpAnnotations({ keep: 'me', [ANNOTATION_POD_IP]: 'old' }, ['10.0.0.5/32', 'fd00::5/128'])).toEqual({
      keep: 'me',
      [ANNOTATION_POD_IP]: '10.0.0.5/32',
      [ANNOTATION_POD_IPS]: '10.0.0.5/32,fd00::5/128',
    });
  });
  it('null removes both', () => {
    expect(podIpAnnotations({ keep: 'me', [ANNOTATION_POD_IP]: 'a', [ANNOTATION_POD_IPS]: 'a' }, null)).toEqual({ keep: 'me' });
  });
});

describe('recordedAddressesWithin', () => {
  const held = new Set(['10.0.0.5', 'fd00::5']);
  it('is true when every recorded address is held', () => {
    expect(recordedAddressesWithin({ [ANNOTATION_POD_IPS]: '10.0.0.5/32,fd00::5/128' }, held)).toBe(true);
    expect(recordedAddressesWithin({ [ANNOTATION_POD_IP]: '10.0.0.5/32' }, held)).toBe(true);
  });
  it('is false for another sandbox\'s addresses or none recorded', () => {
    expect(recordedAddressesWithin({ [ANNOTATION_POD_IPS]: '10.0.0.6/32' }, held)).toBe(false);
    expect(recordedAddressesWithin({}, held)).toBe(false);
    expect(recordedAddressesWithin({ [ANNOTATION_POD_IPS]: '10.0.0.5/32' }, new Set())).toBe(false);
  });
});

describe('namedPortsOf', () => {
  it('keeps named TCP/UDP/SCTP ports of containers and init containers, upper-casing the protocol', () => {
    const pod: PodObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'default' },
      spec: {
        containers: [{ ports: [{ name: 'http', containerPort: 80 }, { containerPort: 81 }, { name: 'dns', containerPort: 53, protocol: 'udp', hostPort: 5353 }] }, {}],
        initContainers: [{ ports: [{ name: 'x', containerPort: 1, protocol: 'ICMP' }, { name: 'sctp', containerPort: 9, protocol: 'SCTP' }] }],
      },
    };
    expect(namedPortsOf(pod)).toEqual([
      { name: 'http', protocol: 'TCP', port: 80 },
      { name: 'dns', protocol: 'UDP', port: 53, hostPort: 5353 },
      { name: 'sctp', protocol: 'SCTP', port: 9 },
    ]);
  });
});
