import { describe, expect, it } from 'vitest';
import { planIpam } from './plan.js';
import type { PoolInfo } from './allocate.js';

const pools: PoolInfo[] = [
  { name: 'default-ipv4-ippool', spec: { cidr: '10.244.0.0/16' } },
  { name: 'blue', spec: { cidr: '10.50.0.0/16' } },
  { name: 'off', spec: { cidr: '10.60.0.0/16', disabled: true } },
  { name: 'default-ipv6-ippool', spec: { cidr: 'fd00::/48' } },
];
const base = { assignIpv4: true, assignIpv6: false, podAnnotations: {}, namespaceAnnotations: {}, pools, nodeLabels: {} };
const names = (p: ReturnType<typeof planIpam>) => (p.ok ? p.pools.map((x) => x.name) : p.reason);

describe('planIpam', () => {
  it('without annotations or config, every enabled pool of the wanted families', () => {
    expect(planIpam(base)).toMatchObject({ ok: true, kind: 'auto', num4: 1, num6: 0 });
    expect(names(planIpam(base))).toEqual(['default-ipv4-ippool', 'blue']);
    expect(names(planIpam({ ...base, assignIpv6: true }))).toEqual(['default-ipv4-ippool', 'blue', 'default-ipv6-ippool']);
  });
  it('pod annotation over namespace annotation over config', () => {
    const config = { ...base, configIpv4Pools: ['default-ipv4-ippool'] };
    expect(names(planIpam(config))).toEqual(['default-ipv4-ippool']);
    expect(names(planIpam({ ...config, namespaceAnnotations: { 'tortie.dev/ipv4pools': '["blue"]' } }))).toEqual(['blue']);
    expect(
      names(planIpam({ ...config, namespaceAnnotations: { 'tortie.dev/ipv4pools': '["blue"]' }, podAnnotations: { 'tortie.dev/ipv4pools': '["10.244.0.0/16"]' } })),
    ).toEqual(['default-ipv4-ippool']);
  });
  it('exact addresses from tortie.dev/ipAddrs', () => {
    expect(planIpam({ ...base, podAnnotations: { 'tortie.dev/ipAddrs': '["10.50.0.9", "fd00::9"]' } })).toMatchObject({
      ok: true,
      kind: 'addresses',
      addresses: ['10.50.0.9', 'fd00::9'],
    });
  });
  it.each([
    [{ 'tortie.dev/ipAddrs': 'not json' }, 'is not JSON'],
    [{ 'tortie.dev/ipAddrs': '["10.0.0.1", "10.0.0.2"]' }, 'at most one IPv4'],
    [{ 'tortie.dev/ipAddrs': '["nope"]' }, 'not an IP address'],
    [{ 'tortie.dev/ipv4pools': '"blue"' }, 'not a JSON list'],
    [{ 'tortie.dev/ipv4pools': '["off"]' }, 'is disabled'],
  ])('a bad pod annotation %j is an error saying %s', (podAnnotations, reason) => {
    const plan = planIpam({ ...base, podAnnotations });
    expect(plan.ok).toBe(false);
    expect(!plan.ok && plan.reason).toContain(reason);
  });
});
