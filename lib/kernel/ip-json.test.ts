import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { hasErrorCode } from '../errors.js';
import { normaliseRouteDst, parseAddresses, parseFdb, parseLinks, parseNeighbours, parseRoutes } from './ip-json.js';

// Fixtures are real `ip -json` output (iproute2 6.1, kernel 6.18), captured
// from a veth pair whose pod end lives in a namespace: see fixtures/README.md.
const dir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const fixture = (name: string) => readFileSync(join(dir, name), 'utf8');

describe('ip -json fixtures', () => {
  it('finds the captured fixture files', () => {
    expect(readdirSync(dir).filter((f) => f.endsWith('.json')).length).toBeGreaterThanOrEqual(14);
  });
});

describe('parseLinks', () => {
  it('reads a host veth whose peer is in another namespace', () => {
    const links = parseLinks(fixture('links-host.json'));
    expect(links.map((l) => l.name)).toEqual(['lo', 'ifb0', 'ifb1', 'eth0', 'tt0fx']);
    expect(links.find((l) => l.name === 'tt0fx')).toEqual({
      ifindex: 9,
      name: 'tt0fx',
      flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
      isUp: true,
      mtu: 1400,
      operState: 'UP',
      macAddress: 'b2:8b:de:43:c7:58',
      kind: 'veth',
      peerIfindex: 2,
      peerNetnsId: 0,
      vxlan: null,
    });
  });

  it('reads a VXLAN device\'s VNI, local address, port and learning', () => {
    const vxlan = parseLinks(fixture('links-vxlan.json')).find((l) => l.name === 'vxlan.tortie');
    expect(vxlan).toMatchObject({ kind: 'vxlan', mtu: 1450, macAddress: '02:aa:bb:cc:dd:ee', isUp: true, vxlan: { id: 4096, local: '10.9.0.1', port: 4789, isLearning: false } });
  });

  it('reads the pod end and a down loopback; kind is null without linkinfo', () => {
    const [lo, eth0] = parseLinks(fixture('links-pod.json'));
    expect(lo).toMatchObject({ name: 'lo', isUp: false, kind: null, peerIfindex: null, peerNetnsId: null });
    expect(eth0).toMatchObject({ name: 'eth0', ifindex: 2, peerIfindex: 9, kind: 'veth', mtu: 1400, isUp: true });
  });

  it('treats empty output as no links', () => {
    expect(parseLinks('')).toEqual([]);
  });

  it.each([
    ['not JSON', '{'],
    ['not an array', '{"ifname":"x"}'],
    ['a link without ifindex', '[{"ifname":"x","mtu":1}]'],
  ])('rejects %s with ERR_KERNEL', (_what, text) => {
    let caught: unknown;
    try {
      parseLinks(text);
    } catch (err) {
      caught = err;
    }
    expect(hasErrorCode(caught, 'ERR_KERNEL')).toBe(true);
  });
});

describe('parseAddresses', () => {
  it('flattens addr_info with family, prefix length, nodad and tentative', () => {
    const addrs = parseAddresses(fixture('addrs-pod.json'));
    expect(addrs).toEqual([
      { ifindex: 2, ifname: 'eth0', family: 4, address: '10.250.9.5', prefixLength: 32, scope: 'global', isTentative: false, hasNoDad: false },
      { ifindex: 2, ifname: 'eth0', family: 6, address: 'fd74:7274::5', prefixLength: 128, scope: 'global', isTentative: false, hasNoDad: true },
      { ifindex: 2, ifname: 'eth0', family: 6, address: 'fe80::4ce6:6cff:fe95:694b', prefixLength: 64, scope: 'link', isTentative: true, hasNoDad: false },
    ]);
  });

  it('reads the gateway address fe80::1 on a host veth', () => {
    const addrs = parseAddresses(fixture('addrs-host-veth.json'));
    expect(addrs[0]).toMatchObject({ ifname: 'tt0fx', family: 6, address: 'fe80::1', prefixLength: 64, scope: 'link', hasNoDad: true });
  });

  it('skips the empty placeholders ip prints for filtered-out addresses', () => {
    const text = '[{"ifindex":1,"ifname":"lo","addr_info":[{},{}]}]';
    expect(parseAddresses(text)).toEqual([]);
  });
});

describe('parseRoutes', () => {
  it('fills in what iproute2 leaves out: unicast, main table, boot protocol, universe scope', () => {
    const routes = parseRoutes(fixture('routes4-host.json'), 4);
    expect(routes[0]).toEqual({
      family: 4,
      dst: '0.0.0.0/0',
      gateway: '192.0.2.1',
      dev: 'eth0',
      type: 1,
      table: 254,
      protocol: 3,
      scope: 0,
      metric: 0,
      prefsrc: null,
      flags: [],
      nexthops: [],
    });
  });

  it('reads our proto-80 link-scope /32 to a pod and local-table entries', () => {
    const routes = parseRoutes(fixture('routes4-host.json'), 4);
    expect(routes.find((r) => r.dst === '10.250.9.5/32')).toMatchObject({ dev: 'tt0fx', protocol: 80, scope: 253, table: 254 });
    expect(routes.find((r) => r.dst === '127.0.0.1/32')).toMatchObject({ type: 2, table: 255, scope: 254, protocol: 2 });
  });

  it('reads IPv6 routes with metrics, and the pod default route via fe80::1', () => {
    expect(parseRoutes(fixture('routes6-host.json'), 6).find((r) => r.dst === 'fd74:7274::5/128')).toMatchObject({
      dev: 'tt0fx',
      protocol: 80,
      metric: 1024,
    });
    expect(parseRoutes(fixture('routes6-pod.json'), 6).find((r) => r.dst === '::/0')).toMatchObject({
      gateway: 'fe80::1',
      dev: 'eth0',
    });
  });

  it('reads the pod default route via 169.254.1.1 onlink', () => {
    expect(parseRoutes(fixture('routes4-pod.json'), 4)).toEqual([
      expect.objectContaining({ dst: '0.0.0.0/0', gateway: '169.254.1.1', dev: 'eth0', flags: ['onlink'] }),
    ]);
  });

  it('reads multipath next hops and blackhole routes', () => {
    const routes = parseRoutes(fixture('routes4-multipath.json'), 4);
    expect(routes.find((r) => r.dst === '10.250.100.0/24')).toMatchObject({
      dev: null,
      protocol: 80,
      nexthops: [
        { gateway: '10.250.7.2', dev: 'a0', flags: [] },
        { gateway: '10.250.6.2', dev: 'b0', flags: [] },
      ],
    });
    expect(routes.find((r) => r.dst === '10.250.101.0/24')).toMatchObject({ type: 6, dev: null });
  });

  it('puts back the fields a filter removed', () => {
    const text = '[{"dst":"10.250.9.5","scope":"253","flags":[]}]';
    expect(parseRoutes(text, 4, { dev: 'tt0fx', protocol: 80 })[0]).toMatchObject({ dev: 'tt0fx', protocol: 80 });
  });

  it.each([
    [4, 'default', '0.0.0.0/0'],
    [6, 'default', '::/0'],
    [4, '10.0.0.1', '10.0.0.1/32'],
    [6, 'fd00::1', 'fd00::1/128'],
    [4, '10.0.0.0/8', '10.0.0.0/8'],
  ] as const)('normalises IPv%s dst %s to %s', (family, dst, want) => {
    expect(normaliseRouteDst(family, dst)).toBe(want);
  });
});

describe('parseFdb', () => {
  it('reads VXLAN entries and puts back the device a dev filter removed', () => {
    expect(parseFdb(fixture('fdb-vxlan.json'), { dev: 'vxlan.tortie' })).toEqual([
      { mac: '02:11:22:33:44:66', dev: 'vxlan.tortie', dst: '10.9.0.3', flags: ['self'], state: 'permanent' },
      { mac: '02:11:22:33:44:55', dev: 'vxlan.tortie', dst: '10.9.0.2', flags: ['self'], state: 'permanent' },
    ]);
    expect(parseFdb('')).toEqual([]);
  });
});

describe('parseNeighbours', () => {
  it('reads states and link-layer addresses', () => {
    const neigh = parseNeighbours(fixture('neigh4-host.json'), 4);
    expect(neigh).toContainEqual({
      family: 4,
      dst: '10.250.9.7',
      dev: 'tt0fx',
      lladdr: '02:00:00:00:00:07',
      state: ['PERMANENT'],
      isProxy: false,
      isRouter: false,
    });
  });

  it('reads an incomplete entry without lladdr', () => {
    expect(parseNeighbours(fixture('neigh4-pod.json'), 4)[0]).toMatchObject({ dst: '169.254.1.1', lladdr: null, state: ['INCOMPLETE'] });
  });

  it('marks proxy entries', () => {
    expect(parseNeighbours(fixture('neigh4-proxy.json'), 4)).toEqual([
      { family: 4, dst: '10.250.9.9', dev: 'tt0fx', lladdr: null, state: [], isProxy: true, isRouter: false },
    ]);
    expect(parseNeighbours(fixture('neigh6-proxy.json'), 6)[0]).toMatchObject({ dst: 'fd74:7274::9', isProxy: true });
    expect(parseNeighbours(fixture('neigh6-pod.json'), 6)).toEqual([]);
  });
});
