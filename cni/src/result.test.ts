import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { type CniResult, buildIpamResult, buildResult, convertResult, parseResult } from './result.js';
import { SUPPORTED_VERSIONS, versionResult } from './version.js';
import { CniError, CniErrorCodes, toCniErrorJson } from './errors.js';
import { specProblems } from './testdata/schemas.js';

const podResult = (): CniResult =>
  buildResult({
    interfaces: [
      { name: 'tor1a2b3c4d5e6', mac: 'ee:ee:ee:ee:ee:ee' },
      { name: 'eth0', mac: '0a:58:0a:f4:01:07', sandbox: '/var/run/netns/cni-1234', mtu: 1450 },
    ],
    ips: [
      { address: '10.244.1.7/32', interface: 1 },
      { address: 'fd00:10:244::7/128', interface: 1 },
    ],
    routes: [
      { dst: '0.0.0.0/0', gw: '169.254.1.1' },
      { dst: '::/0', gw: 'fe80::1', mtu: 1450 },
    ],
    dns: { nameservers: ['10.96.0.10'], search: ['default.svc.cluster.local'] },
  });

describe('convertResult', () => {
  it('1.1.0 keeps interface mtu and route mtu; ips have no version', () => {
    const out = convertResult(podResult(), '1.1.0');
    expect(out).toEqual({
      cniVersion: '1.1.0',
      interfaces: [
        { name: 'tor1a2b3c4d5e6', mac: 'ee:ee:ee:ee:ee:ee' },
        { name: 'eth0', mac: '0a:58:0a:f4:01:07', mtu: 1450, sandbox: '/var/run/netns/cni-1234' },
      ],
      ips: [
        { address: '10.244.1.7/32', interface: 1 },
        { address: 'fd00:10:244::7/128', interface: 1 },
      ],
      routes: [
        { dst: '0.0.0.0/0', gw: '169.254.1.1' },
        { dst: '::/0', gw: 'fe80::1', mtu: 1450 },
      ],
      dns: { nameservers: ['10.96.0.10'], search: ['default.svc.cluster.local'] },
    });
  });
  it('1.0.0 drops the fields 1.1.0 added', () => {
    const out = convertResult(podResult(), '1.0.0') as unknown as { interfaces: object[]; routes: object[] };
    expect(out.interfaces[1]).toEqual({ name: 'eth0', mac: '0a:58:0a:f4:01:07', sandbox: '/var/run/netns/cni-1234' });
    expect(out.routes[1]).toEqual({ dst: '::/0', gw: 'fe80::1' });
  });
  it.each(['0.3.0', '0.3.1', '0.4.0'] as const)('%s gives every ip its version', (v) => {
    const out = convertResult(podResult(), v) as unknown as { ips: object[] };
    expect(out.ips).toEqual([
      { version: '4', address: '10.244.1.7/32', interface: 1 },
      { version: '6', address: 'fd00:10:244::7/128', interface: 1 },
    ]);
  });
  it('leaves out empty lists and an empty dns', () => {
    expect(convertResult(buildResult(), '1.1.0')).toEqual({ cniVersion: '1.1.0' });
  });
  it('an IPAM result has no interfaces and no interface index', () => {
    const out = convertResult(buildIpamResult({ ips: [{ address: '10.0.0.1/32', interface: 0 }] }), '1.0.0');
    expect(out).toEqual({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.1/32' }] });
  });
});

describe('parseResult', () => {
  it('reads each version back to the same neutral result', () => {
    for (const v of SUPPORTED_VERSIONS) {
      const printed = convertResult(podResult(), v);
      const again = convertResult(parseResult(JSON.parse(JSON.stringify(printed))), v);
      expect(again).toEqual(printed);
    }
  });
  it('a malformed prevResult is a decode error naming the field', () => {
    const err = (() => {
      try {
        parseResult({ cniVersion: '1.0.0', ips: [{ address: 'nonsense' }] });
      } catch (e) {
        return e as CniError;
      }
    })();
    expect(err?.code).toBe(CniErrorCodes.DecodingFailure);
    expect(err?.message).toContain('prevResult.ips.0.address');
  });
});

// Every result we print is checked against a JSON Schema written from the
// spec text (cni/src/testdata/*.schema.json), not against our own zod code.
describe('what we print is valid against the spec schemas', () => {
  const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
  const ipv6 = fc.ipV6().filter((a) => !a.includes('.'));
  const mac = fc.array(fc.nat(255), { minLength: 6, maxLength: 6 }).map((b) => b.map((x) => x.toString(16).padStart(2, '0')).join(':'));
  const resultArb = fc
    .record({
      interfaces: fc.array(
        fc.record(
          {
            name: fc.stringMatching(/^[a-z][a-z0-9]{0,14}$/),
            mac,
            mtu: fc.integer({ min: 68, max: 9000 }),
            sandbox: fc.constant('/var/run/netns/x'),
          },
          { requiredKeys: ['name'] },
        ),
        { maxLength: 3 },
      ),
      ips: fc.array(
        fc.oneof(
          fc.record({ address: ipv4.map((a) => `${a}/32`), gateway: fc.option(ipv4, { nil: undefined }) }),
          fc.record({ address: ipv6.map((a) => `${a}/128`), gateway: fc.option(ipv6, { nil: undefined }) }),
        ),
        { maxLength: 3 },
      ),
      routes: fc.array(
        fc.record({ dst: ipv4.map((a) => `${a}/24`), gw: fc.option(ipv4, { nil: undefined }), mtu: fc.option(fc.integer({ min: 1, max: 9000 }), { nil: undefined }) }),
        { maxLength: 3 },
      ),
      nameservers: fc.array(ipv4, { maxLength: 2 }),
    })
    .map(({ interfaces, ips, routes, nameservers }) =>
      buildResult({
        interfaces,
        ips: ips.map((ip, i) => ({ ...ip, ...(interfaces.length > 0 ? { interface: i % interfaces.length } : {}) })),
        routes,
        dns: { nameservers },
      }),
    );

  it('results of every version', () => {
    fc.assert(
      fc.property(resultArb, fc.constantFrom(...SUPPORTED_VERSIONS), (result, v) => {
        expect(specProblems('result', JSON.parse(JSON.stringify(convertResult(result, v))))).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });
  it('the pod result and IPAM result, in every version', () => {
    for (const v of SUPPORTED_VERSIONS) {
      expect(specProblems('result', convertResult(podResult(), v))).toEqual([]);
      expect(specProblems('result', convertResult(buildIpamResult({ ips: [{ address: '10.0.0.1/32' }] }), v))).toEqual([]);
    }
  });
  it('error objects, whatever was thrown', () => {
    for (const thrown of [new CniError(CniErrorCodes.InvalidNetworkConfig, 'bad', { details: 'config.mtu: too small' }), new Error('boom'), 'a string']) {
      expect(specProblems('error', toCniErrorJson(thrown, '1.0.0'))).toEqual([]);
    }
  });
  it('the VERSION answer', () => {
    expect(specProblems('version', versionResult('0.4.0'))).toEqual([]);
    expect(specProblems('version', versionResult(undefined))).toEqual([]);
  });
  it('the schemas reject what the spec forbids (they are not vacuous)', () => {
    expect(specProblems('result', { cniVersion: '1.0.0', ips: [{ version: '4', address: '10.0.0.1/32' }] })).not.toEqual([]);
    expect(specProblems('result', { cniVersion: '0.4.0', ips: [{ address: '10.0.0.1/32' }] })).not.toEqual([]);
    expect(specProblems('result', { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mtu: 1500 }] })).not.toEqual([]);
    expect(specProblems('result', { cniVersion: '1.1.0', ips: [{ address: '10.0.0.1/32', interface: 0 }] })).not.toEqual([]);
    expect(specProblems('error', { cniVersion: '1.0.0', code: 7 })).not.toEqual([]);
  });
});
