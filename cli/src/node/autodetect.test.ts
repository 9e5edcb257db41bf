import { describe, expect, it } from 'vitest';
import type { IpAddress, IpLink } from '../../../lib/kernel/ip-json.js';
import { detectAddress, findAddress, type HostInterfaces } from './autodetect.js';

const link = (ifindex: number, name: string, isUp = true): IpLink => ({ ifindex, name, flags: isUp ? ['UP'] : [], isUp, mtu: 1500, operState: isUp ? 'UP' : 'DOWN', macAddress: '', kind: null, peerIfindex: null, peerNetnsId: null });
const addr = (ifindex: number, ifname: string, address: string, prefixLength: number, scope = 'global'): IpAddress => ({ ifindex, ifname, family: address.includes(':') ? 6 : 4, address, prefixLength, scope, isTentative: false, hasNoDad: false });

const host: HostInterfaces = {
  links: [link(1, 'lo'), link(2, 'docker0'), link(3, 'eth0'), link(4, 'eth1'), link(5, 'tor1a2b3c4d5e6'), link(6, 'vxlan.tortie'), link(7, 'eth2', false)],
  addresses: [
    addr(1, 'lo', '127.0.0.1', 8, 'host'),
    addr(2, 'docker0', '172.17.0.1', 16),
    addr(3, 'eth0', 'fe80::1', 64, 'link'),
    addr(3, 'eth0', '192.0.2.10', 24),
    addr(3, 'eth0', '2001:db8::10', 64),
    addr(4, 'eth1', '10.1.0.5', 16),
    addr(5, 'tor1a2b3c4d5e6', '169.254.1.1', 32),
    addr(6, 'vxlan.tortie', '10.244.0.0', 32),
    addr(7, 'eth2', '198.51.100.1', 24),
  ],
};

describe('detectAddress', () => {
  it('first-found: the first global address on the first interface that is up and not a bridge, loopback or CNI device', () => {
    expect(detectAddress({ kind: 'first-found' }, 4, host)).toEqual({ address: '192.0.2.10', prefixLength: 24, ifname: 'eth0' });
    expect(detectAddress({ kind: 'first-found' }, 6, host)).toEqual({ address: '2001:db8::10', prefixLength: 64, ifname: 'eth0' });
  });

  it('interface= and skip-interface= by regular expression', () => {
    expect(detectAddress({ kind: 'interface', pattern: /eth1/ }, 4, host)?.address).toBe('10.1.0.5');
    expect(detectAddress({ kind: 'skip-interface', pattern: /eth0/ }, 4, host)?.address).toBe('10.1.0.5');
    expect(detectAddress({ kind: 'interface', pattern: /eth2/ }, 4, host)).toBeNull(); // down
  });

  it('cidr= picks the first address inside one of the CIDRs', () => {
    expect(detectAddress({ kind: 'cidr', cidrs: ['10.0.0.0/8'] }, 4, host)?.address).toBe('10.1.0.5');
    expect(detectAddress({ kind: 'cidr', cidrs: ['203.0.113.0/24'] }, 4, host)).toBeNull();
  });

  it('can-reach= takes the route source the kernel chose, with its interface and prefix length', () => {
    expect(detectAddress({ kind: 'can-reach', destination: '10.1.9.9' }, 4, host, '10.1.0.5')).toEqual({ address: '10.1.0.5', prefixLength: 16, ifname: 'eth1' });
    expect(detectAddress({ kind: 'can-reach', destination: '10.1.9.9' }, 4, host, null)).toBeNull();
  });
});

describe('findAddress', () => {
  it('finds an address of this host in any written form', () => {
    expect(findAddress(host, '2001:0db8::0010')).toEqual({ address: '2001:db8::10', prefixLength: 64, ifname: 'eth0' });
    expect(findAddress(host, '203.0.113.1')).toBeNull();
  });
});
