import { describe, expect, it } from 'vitest';
import { parseNodeStartupConfig } from './config.js';

describe('parseNodeStartupConfig', () => {
  it('has calico/node defaults: autodetect first-found, bird, a 192.168.0.0/16 pool with /26 blocks, IPIP Always, NAT', () => {
    const c = parseNodeStartupConfig({});
    expect(c).toMatchObject({ ipv4: { kind: 'keep-or-detect' }, ipv4Method: { kind: 'first-found' }, ipv6: { kind: 'keep-or-detect' }, asNumber: null, backend: 'bird', isNodeIpCheckDisabled: false, defaultIpv6Pool: null });
    expect(c.defaultIpv4Pool).toEqual({ cidr: '192.168.0.0/16', blockSize: 26, ipipMode: 'Always', vxlanMode: 'Never', natOutgoing: true, nodeSelector: 'all()' });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reads the calico.yaml variables, modes case-insensitively, Off as Never', () => {
    const c = parseNodeStartupConfig({
      NODENAME: 'n1', IP: '192.0.2.10/24', IP_AUTODETECTION_METHOD: 'can-reach=192.0.2.1', AS: '1.10',
      CALICO_IPV4POOL_CIDR: '10.244.0.0/16', CALICO_IPV4POOL_BLOCK_SIZE: '24', CALICO_IPV4POOL_IPIP: 'off', CALICO_IPV4POOL_VXLAN: 'crosssubnet',
      CALICO_IPV4POOL_NAT_OUTGOING: 'false', CALICO_IPV6POOL_CIDR: 'fd00:10:244::/48', IP6: 'autodetect', IP6_AUTODETECTION_METHOD: 'interface=eth.*',
    });
    expect(c).toMatchObject({ nodeNameSetting: 'n1', ipv4: { kind: 'fixed', address: '192.0.2.10', prefixLength: 24 }, ipv4Method: { kind: 'can-reach', destination: '192.0.2.1' }, asNumber: 65546, ipv6: { kind: 'autodetect' } });
    expect(c.defaultIpv4Pool).toMatchObject({ cidr: '10.244.0.0/16', blockSize: 24, ipipMode: 'Never', vxlanMode: 'CrossSubnet', natOutgoing: false });
    expect(c.defaultIpv6Pool).toMatchObject({ cidr: 'fd00:10:244::/48', blockSize: 122, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false });
  });

  it('defaults the pool to VXLAN Always with the vxlan backend, and to no encapsulation with none', () => {
    expect(parseNodeStartupConfig({ CALICO_NETWORKING_BACKEND: 'vxlan' }).defaultIpv4Pool).toMatchObject({ ipipMode: 'Never', vxlanMode: 'Always' });
    expect(parseNodeStartupConfig({ CALICO_NETWORKING_BACKEND: 'none' }).defaultIpv4Pool).toMatchObject({ ipipMode: 'Never', vxlanMode: 'Never' });
    expect(parseNodeStartupConfig({ CALICO_IPV4POOL_VXLAN: 'Always' }).defaultIpv4Pool).toMatchObject({ ipipMode: 'Never', vxlanMode: 'Always' });
  });

  it('NO_DEFAULT_POOLS creates no pool', () => {
    expect(parseNodeStartupConfig({ NO_DEFAULT_POOLS: 'true' }).defaultIpv4Pool).toBeNull();
  });

  it.each([
    [{ IP: '10.0.0.300' }, /^IP="10\.0\.0\.300": use autodetect, none, or an IPv4 address/],
    [{ IP6: '10.0.0.1' }, /^IP6="10\.0\.0\.1": use autodetect, none, or an IPv6 address/],
    [{ IP_AUTODETECTION_METHOD: 'first' }, /^IP_AUTODETECTION_METHOD="first": unknown method; use first-found, interface=REGEX/],
    [{ IP_AUTODETECTION_METHOD: 'interface=(' }, /^IP_AUTODETECTION_METHOD="interface=\(": not a regular expression/],
    [{ IP_AUTODETECTION_METHOD: 'can-reach=www.example.com' }, /can-reach= needs an IPv4 address/],
    [{ IP_AUTODETECTION_METHOD: 'cidr=fd00::/8' }, /cidr= needs IPv4 CIDRs/],
    [{ AS: '4294967296' }, /^AS="4294967296": use an AS number/],
    [{ CALICO_IPV4POOL_IPIP: 'Always', CALICO_IPV4POOL_VXLAN: 'Always' }, /CALICO_IPV4POOL_IPIP=Always and CALICO_IPV4POOL_VXLAN=Always: a pool uses one encapsulation/],
    [{ CALICO_IPV4POOL_IPIP: 'sometimes' }, /^CALICO_IPV4POOL_IPIP="sometimes": use Always, CrossSubnet or Never/],
    [{ CALICO_NETWORKING_BACKEND: 'vxlan', CALICO_IPV4POOL_IPIP: 'Always' }, /IPIP routes need BGP/],
    [{ CALICO_IPV4POOL_CIDR: '10.0.0.0/24', CALICO_IPV4POOL_BLOCK_SIZE: '20' }, /^CALICO_IPV4POOL_BLOCK_SIZE="20": blocks must fit in 10\.0\.0\.0\/24: use 24 or more/],
    [{ CALICO_IPV4POOL_CIDR: 'fd00::/48' }, /^CALICO_IPV4POOL_CIDR="fd00::\/48": use an IPv4 CIDR/],
    [{ NO_DEFAULT_POOLS: 'true', CALICO_IPV4POOL_CIDR: '10.0.0.0/16' }, /NO_DEFAULT_POOLS=true and CALICO_IPV4POOL_CIDR are both set/],
    [{ CALICO_NETWORKING_BACKEND: 'gobgp' }, /^CALICO_NETWORKING_BACKEND="gobgp": use bird \(BGP\), vxlan or none/],
    [{ DISABLE_NODE_IP_CHECK: 'maybe' }, /^DISABLE_NODE_IP_CHECK="maybe": use true or false/],
  ])('%j is ERR_CONFIG_INVALID naming the variable and what it accepts', (env, message) => {
    expect(() => parseNodeStartupConfig(env)).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID', message: expect.stringMatching(message) }));
  });
});
