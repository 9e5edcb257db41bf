import { describe, expect, it } from 'vitest';
import { TortieError } from '../../lib/errors.js';
import type { IpRunner } from '../../lib/kernel/ip.js';
import type { IpLink } from '../../lib/kernel/ip-json.js';
import type { NetnsRef } from '../../lib/kernel/netns-ref.js';
import { executeDetach, executePlan, isPairCreationFailure, type DatapathRunners } from './attach.js';
import { planAttachment, planDetach } from './plan.js';

// Order of effects and the undo rules, with a recording kernel. The same
// behaviour against the real kernel is test/integration/cni/datapath.test.ts.

const plan = planAttachment({
  containerId: 'c1',
  podNamespace: 'ns',
  podName: 'p',
  ifName: 'eth0',
  netnsPath: '/run/netns/pod1',
  addresses: [{ family: 4, address: '10.250.0.5', prefixLength: 32 }],
  mtu: 1400,
});

function batchError(line: number): TortieError {
  return new TortieError('ERR_KERNEL', 'ip -batch - exited with 1', {
    details: { command: 'ip -batch -', exitCode: 1, stderr: `RTNETLINK answers: File exists\nCommand failed -:${line}`, signal: null, timedOut: false, failedLine: line },
  });
}

function fakeKernel(failures: { where: 'host' | 'pod' | 'sysctl'; line?: number }[] = [], links: IpLink[] = []) {
  const log: string[] = [];
  const runner = (ns: NetnsRef | null): IpRunner => {
    const where = ns === null ? 'host' : 'pod';
    return {
      netns: ns,
      inNetns: (other) => runner(other),
      links: async () => links,
      link: async (name) => links.find((l) => l.name === name) ?? null,
      addresses: async () => [],
      routes: async () => [],
      neighbours: async () => [],
      batch: async (commands) => {
        log.push(`${where}: ${commands.join(' | ')}`);
        const f = failures.find((x) => x.where === where);
        if (f) throw batchError(f.line ?? 1);
      },
    };
  };
  const runners: DatapathRunners = {
    ip: runner(null),
    sysctl: {
      read: async () => '1',
      write: async (key, value) => {
        log.push(`sysctl: ${key}=${value}`);
        if (failures.some((x) => x.where === 'sysctl')) throw new TortieError('ERR_KERNEL', 'cannot write');
      },
    },
    netnsExists: async (path) => path === '/run/netns/pod1',
  };
  return { log, runners };
}

describe('executePlan', () => {
  it('runs the host batch, then the pod batch beside the sysctls: two processes', async () => {
    const { log, runners } = fakeKernel();
    await executePlan(plan, runners);
    expect(log[0]).toBe(`host: ${plan.hostCommands.join(' | ')}`);
    expect(log.slice(1).sort()).toEqual([`pod: ${plan.podCommands.join(' | ')}`, ...plan.sysctls.map((s) => `sysctl: ${s.key}=${s.value}`)].sort());
  });

  it('undoes nothing when the pair itself could not be made (line 1)', async () => {
    const { log, runners } = fakeKernel([{ where: 'host', line: 1 }]);
    let caught: unknown;
    await executePlan(plan, runners).catch((err: unknown) => (caught = err));
    expect(isPairCreationFailure(caught)).toBe(true);
    expect(log).toEqual([`host: ${plan.hostCommands.join(' | ')}`]);
  });

  it.each([
    ['a later host line', { where: 'host' as const, line: 3 }],
    ['a sysctl', { where: 'sysctl' as const }],
    ['the pod batch', { where: 'pod' as const, line: 2 }],
  ])('deletes the host end when %s fails', async (_name, failure) => {
    const { log, runners } = fakeKernel([failure]);
    let caught: unknown;
    await executePlan(plan, runners).catch((err: unknown) => (caught = err));
    expect(caught).toBeInstanceOf(TortieError);
    expect(isPairCreationFailure(caught)).toBe(false);
    expect(log.at(-1)).toBe(`host: link del ${plan.hostIfName}`);
  });

  it('refuses a namespace that does not exist before running anything', async () => {
    const { log, runners } = fakeKernel();
    await expect(executePlan({ ...plan, netns: { path: '/run/netns/gone', name: 'gone' } }, runners)).rejects.toThrow(
      'network namespace /run/netns/gone does not exist',
    );
    expect(log).toEqual([]);
  });
});

describe('executeDetach', () => {
  it('is no-netns without a namespace, and absent when the interface is already gone', async () => {
    const { runners } = fakeKernel([{ where: 'pod', line: 1 }]);
    expect(await executeDetach(planDetach({ containerId: 'c1', ifName: 'eth0', netnsPath: null }), runners)).toBe('no-netns');
    expect(await executeDetach(planDetach({ containerId: 'c1', ifName: 'eth0', netnsPath: '/run/netns/gone' }), runners)).toBe('no-netns');
    expect(await executeDetach(planDetach({ containerId: 'c1', ifName: 'eth0', netnsPath: '/run/netns/pod1' }), runners)).toBe('absent');
  });

  it('rethrows when the interface is still there after a failed delete', async () => {
    const eth0: IpLink = { ifindex: 2, name: 'eth0', flags: [], isUp: true, mtu: 1400, operState: 'UP', macAddress: '', kind: 'veth', peerIfindex: 9, peerNetnsId: 0 };
    const { runners } = fakeKernel([{ where: 'pod', line: 1 }], [eth0]);
    await expect(executeDetach(planDetach({ containerId: 'c1', ifName: 'eth0', netnsPath: '/run/netns/pod1' }), runners)).rejects.toThrow(TortieError);
  });
});
