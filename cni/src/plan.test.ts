import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HOST_VETH_PREFIX, IFNAME_MAX_LENGTH, WORKLOAD_ROUTE_PROTOCOL } from '../../lib/contract.js';
import { hasErrorCode } from '../../lib/errors.js';
import {
  ENCAPSULATION_OVERHEAD,
  diffAttachment,
  hostVethName,
  planAttachment,
  planDetach,
  podMacAddress,
  resolveMtu,
  type ActualAttachment,
  type AttachmentRequest,
} from './plan.js';

const here = dirname(fileURLToPath(import.meta.url));

const v4Request: AttachmentRequest = {
  containerId: 'c0ffee',
  podNamespace: 'default',
  podName: 'web-0',
  ifName: 'eth0',
  netnsPath: '/var/run/netns/cni-1',
  addresses: [{ family: 4, address: '10.250.0.5', prefixLength: 32 }],
  mtu: 1450,
};

describe('hostVethName', () => {
  it('is the prefix and sha1(namespace.pod), exactly IFNAME_MAX_LENGTH characters', () => {
    // sha1("default.web-0") = 0d7763386da219ddff1faed1cc6576fb9d57d419
    const name = hostVethName(v4Request);
    expect(name).toBe(`${HOST_VETH_PREFIX}${'0d7763386da219ddff1faed1cc6576fb9d57d419'.slice(0, IFNAME_MAX_LENGTH - HOST_VETH_PREFIX.length)}`);
    expect(name).toHaveLength(IFNAME_MAX_LENGTH);
  });

  it('is the same for a retried ADD of the same workload, whatever the container', () => {
    expect(hostVethName({ ...v4Request, containerId: 'other' })).toBe(hostVethName(v4Request));
  });

  it('uses the container ID when the runtime gave no pod name', () => {
    expect(hostVethName({ containerId: 'abc' })).toBe(hostVethName({ containerId: 'abc', podNamespace: 'x', podName: null }));
    expect(hostVethName({ containerId: 'abc' })).not.toBe(hostVethName({ containerId: 'abd' }));
  });

  it('always fits IFNAMSIZ and differs between workloads (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (cid, ns, pod) => {
        const name = hostVethName({ containerId: cid, podNamespace: ns, podName: pod });
        expect(name.length).toBeLessThanOrEqual(IFNAME_MAX_LENGTH);
        expect(name.startsWith(HOST_VETH_PREFIX)).toBe(true);
        expect(hostVethName({ containerId: cid, podNamespace: ns, podName: `${pod}x` })).not.toBe(name);
      }),
    );
  });
});

describe('podMacAddress', () => {
  it('is a stable, locally administered unicast MAC', () => {
    const mac = podMacAddress('c0ffee');
    expect(mac).toBe(podMacAddress('c0ffee'));
    expect(mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    const first = Number.parseInt(mac.slice(0, 2), 16);
    expect(first & 0x01).toBe(0);
    expect(first & 0x02).toBe(2);
  });
});

describe('resolveMtu', () => {
  it.each([
    ['a configured MTU wins', { configuredMtu: 1400, uplinkMtu: 9001, encapsulationOverhead: 50 }, 1400],
    ['0 derives from the uplink less IPIP', { configuredMtu: 0, uplinkMtu: 1500, encapsulationOverhead: ENCAPSULATION_OVERHEAD.ipip }, 1480],
    ['0 derives from the uplink less VXLAN', { configuredMtu: 0, uplinkMtu: 9001, encapsulationOverhead: ENCAPSULATION_OVERHEAD.vxlan }, 8951],
    ['no uplink means 1500', { configuredMtu: 0, uplinkMtu: null, encapsulationOverhead: 0 }, 1500],
  ])('%s', (_name, input, want) => {
    expect(resolveMtu(input)).toBe(want);
  });

  it('refuses an MTU below 68 with ERR_CONFIG_INVALID', () => {
    expect(() => resolveMtu({ configuredMtu: 40, uplinkMtu: null, encapsulationOverhead: 0 })).toThrow(/mtu: 40/);
  });
});

describe('planAttachment', () => {
  it('plans an IPv4 pod: one ip -batch per namespace, the pod end made in its netns', () => {
    const plan = planAttachment(v4Request);
    const host = hostVethName(v4Request);
    expect(plan.hostCommands).toEqual([
      `link add ${host} mtu 1450 address ee:ee:ee:ee:ee:ee type veth peer name eth0 mtu 1450 address ${plan.podMac} netns /var/run/netns/cni-1`,
      `link set ${host} up`,
      `route replace 169.254.1.1/32 dev lo scope link proto ${WORKLOAD_ROUTE_PROTOCOL}`,
      `route replace 10.250.0.5/32 dev ${host} scope link proto ${WORKLOAD_ROUTE_PROTOCOL}`,
    ]);
    expect(plan.podCommands).toEqual([
      'link set eth0 up',
      'addr add 10.250.0.5/32 dev eth0',
      'route add 0.0.0.0/0 via 169.254.1.1 dev eth0 onlink',
    ]);
    expect(plan.sysctls).toEqual([
      { key: `net/ipv4/conf/${host}/proxy_arp`, value: '1' },
      { key: `net/ipv4/neigh/${host}/proxy_delay`, value: '0' },
      { key: `net/ipv4/conf/${host}/forwarding`, value: '1' },
    ]);
    expect(plan.undoCommands).toEqual([`link del ${host}`]);
    expect(plan.netns).toEqual({ path: '/var/run/netns/cni-1', name: 'cni-1' });
  });

  it('plans dual stack: fe80::1 nodad on the host end, nodad on the pod address, ::/0 via fe80::1', () => {
    const plan = planAttachment({
      ...v4Request,
      netnsPath: '/proc/42/ns/net',
      addresses: [...v4Request.addresses, { family: 6, address: 'fd74:7274::5', prefixLength: 128 }],
    });
    const host = plan.hostIfName;
    expect(plan.hostCommands.slice(1)).toEqual([
      `link set ${host} up`,
      `route replace 169.254.1.1/32 dev lo scope link proto ${WORKLOAD_ROUTE_PROTOCOL}`,
      `addr add fe80::1/64 dev ${host} nodad`,
      `route replace 10.250.0.5/32 dev ${host} scope link proto ${WORKLOAD_ROUTE_PROTOCOL}`,
      `route replace fd74:7274::5/128 dev ${host} proto ${WORKLOAD_ROUTE_PROTOCOL}`,
    ]);
    expect(plan.hostCommands[0]).toMatch(/netns \/proc\/42\/ns\/net$/);
    expect(plan.podCommands).toEqual([
      'link set eth0 up',
      'addr add 10.250.0.5/32 dev eth0',
      'addr add fd74:7274::5/128 dev eth0 nodad',
      'route add 0.0.0.0/0 via 169.254.1.1 dev eth0 onlink',
      'route add ::/0 via fe80::1 dev eth0',
    ]);
    expect(plan.sysctls.map((s) => s.key)).toContain(`net/ipv6/conf/${host}/forwarding`);
  });

  it('plans an IPv6-only pod without the IPv4 gateway route or proxy ARP', () => {
    const plan = planAttachment({ ...v4Request, addresses: [{ family: 6, address: 'fd74:7274::5', prefixLength: 128 }] });
    expect(plan.hostCommands.some((c) => c.includes('169.254.1.1'))).toBe(false);
    expect(plan.sysctls.map((s) => s.key)).toEqual([`net/ipv6/conf/${plan.hostIfName}/forwarding`]);
  });

  it('is a function of its input (same in, same out)', () => {
    expect(planAttachment(v4Request)).toEqual(planAttachment({ ...v4Request }));
  });

  it.each([
    ['an interface name with a space', { ifName: 'eth 0' }],
    ['an interface name over 15 characters', { ifName: 'eth0123456789abc' }],
    ['a relative netns path', { netnsPath: 'netns/x' }],
    ['no address', { addresses: [] }],
    ['a /24 pod address', { addresses: [{ family: 4, address: '10.250.0.5', prefixLength: 24 }] }],
    ['an IPv6 address labelled IPv4', { addresses: [{ family: 4, address: 'fd00::1', prefixLength: 32 }] }],
    ['an unresolved MTU 0', { mtu: 0 }],
  ] as [string, Partial<AttachmentRequest>][])('refuses %s with ERR_VALIDATION', (_name, change) => {
    let caught: unknown;
    try {
      planAttachment({ ...v4Request, ...change });
    } catch (err) {
      caught = err;
    }
    expect(hasErrorCode(caught, 'ERR_VALIDATION')).toBe(true);
  });
});

describe('planDetach', () => {
  it('deletes the pod end inside the pod netns (the host end and its routes go with it)', () => {
    expect(planDetach({ containerId: 'c0ffee', podNamespace: 'default', podName: 'web-0', ifName: 'eth0', netnsPath: '/run/netns/cni-1' })).toEqual({
      hostIfName: hostVethName(v4Request),
      podIfName: 'eth0',
      netns: { path: '/run/netns/cni-1', name: 'cni-1' },
      podCommands: ['link del eth0'],
    });
  });

  it('has no namespace to clean when the runtime gave none', () => {
    expect(planDetach({ containerId: 'c', ifName: 'eth0', netnsPath: '' }).netns).toBeNull();
  });
});

describe('diffAttachment', () => {
  const plan = planAttachment(v4Request);
  const matching: ActualAttachment = {
    hostLink: { ifindex: 9, name: plan.hostIfName, flags: ['UP'], isUp: true, mtu: 1450, operState: 'UP', macAddress: plan.hostMac, kind: 'veth', peerIfindex: 2, peerNetnsId: 0 },
    podLink: { ifindex: 2, name: 'eth0', flags: ['UP'], isUp: true, mtu: 1450, operState: 'UP', macAddress: plan.podMac, kind: 'veth', peerIfindex: 9, peerNetnsId: 0 },
    podAddresses: [{ ifindex: 2, ifname: 'eth0', family: 4, address: '10.250.0.5', prefixLength: 32, scope: 'global', isTentative: false, hasNoDad: false }],
    podRoutes: [{ family: 4, dst: '0.0.0.0/0', gateway: '169.254.1.1', dev: 'eth0', type: 1, table: 254, protocol: 3, scope: 0, metric: 0, prefsrc: null, flags: ['onlink'], nexthops: [] }],
    hostAddresses: [],
    hostRoutes: [{ family: 4, dst: '10.250.0.5/32', gateway: null, dev: plan.hostIfName, type: 1, table: 254, protocol: WORKLOAD_ROUTE_PROTOCOL, scope: 253, metric: 0, prefsrc: null, flags: [], nexthops: [] }],
    sysctls: Object.fromEntries(plan.sysctls.map((s) => [s.key, s.value])),
  };

  it('finds no difference when the kernel holds the plan', () => {
    expect(diffAttachment(plan, matching)).toEqual([]);
  });

  it('names each difference', () => {
    expect(
      diffAttachment(plan, {
        ...matching,
        podLink: { ...matching.podLink!, peerIfindex: 10, isUp: false },
        podAddresses: [],
        hostRoutes: [{ ...matching.hostRoutes[0]!, protocol: 3 }],
        sysctls: {},
      }),
    ).toEqual([
      'interface eth0 is down',
      `eth0 in /var/run/netns/cni-1 is not the peer of host interface ${plan.hostIfName}`,
      'address 10.250.0.5/32 is missing on eth0',
      `route 10.250.0.5/32 dev ${plan.hostIfName} proto ${WORKLOAD_ROUTE_PROTOCOL} is missing on the host`,
      `sysctl net/ipv4/conf/${plan.hostIfName}/proxy_arp is unreadable, want 1`,
      `sysctl net/ipv4/neigh/${plan.hostIfName}/proxy_delay is unreadable, want 0`,
      `sysctl net/ipv4/conf/${plan.hostIfName}/forwarding is unreadable, want 1`,
    ]);
  });

  it('reports missing links', () => {
    expect(diffAttachment(plan, { ...matching, hostLink: null, podLink: null }).slice(0, 2)).toEqual([
      `host interface ${plan.hostIfName} does not exist`,
      'interface eth0 does not exist in /var/run/netns/cni-1',
    ]);
  });
});

describe('plan.ts is pure', () => {
  it('imports nothing that does I/O', () => {
    const source = readFileSync(join(here, 'plan.ts'), 'utf8');
    const imports = [...source.matchAll(/from '([^']+)'/g)].map((m) => m[1]);
    expect(imports.length).toBeGreaterThan(0);
    for (const forbidden of ['node:child_process', 'node:fs', 'node:fs/promises', 'node:net', 'execa', '../../lib/kernel/ip.js', '../../lib/kernel/exec.js', '../../lib/kernel/netns.js']) {
      expect(imports).not.toContain(forbidden);
    }
  });
});
