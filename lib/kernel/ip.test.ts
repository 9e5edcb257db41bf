import { describe, expect, it } from 'vitest';
import { TortieError, hasErrorCode } from '../errors.js';
import type { CommandRunner, RunOptions } from './exec.js';
import { createIpRunner, failedBatchLine, readUplinkMtu } from './ip.js';

interface Call {
  file: string;
  args: readonly string[];
  options: RunOptions | undefined;
}

/** A CommandRunner that records calls and answers from a table (first matching prefix wins). */
function recorder(answers: [string, string | Error][] = []): { run: CommandRunner; calls: Call[] } {
  const calls: Call[] = [];
  const run: CommandRunner = async (file, args, options) => {
    calls.push({ file, args, options });
    const line = [file, ...args].join(' ');
    for (const [prefix, answer] of answers) {
      if (line.startsWith(prefix)) {
        if (answer instanceof Error) throw answer;
        return answer;
      }
    }
    return '[]';
  };
  return { run, calls };
}

function ipFailure(stderr: string): TortieError {
  return new TortieError('ERR_KERNEL', `ip -batch - exited with 1: ${stderr}`, {
    details: { command: 'ip -batch -', exitCode: 1, stderr, stdout: '', signal: null, timedOut: false },
  });
}

describe('IpRunner', () => {
  it('uses ip -n for a named namespace and nsenter for a path', async () => {
    const { run, calls } = recorder();
    const host = createIpRunner(run);
    await host.inNetns({ path: '/run/netns/tt-a', name: 'tt-a' }).links();
    await host.inNetns({ path: '/proc/7/ns/net', name: null }).links();
    await host.links();
    expect(calls.map((c) => [c.file, ...c.args, c.options?.netns ?? ''])).toEqual([
      ['ip', '-n', 'tt-a', '-json', '-d', 'link', 'show', ''],
      ['ip', '-json', '-d', 'link', 'show', '/proc/7/ns/net'],
      ['ip', '-json', '-d', 'link', 'show', ''],
    ]);
  });

  it('with enterNetnsWithRunner, enters a named namespace through the runner too, never ip -n', async () => {
    const { run, calls } = recorder();
    const pod = createIpRunner(run, null, { enterNetnsWithRunner: true }).inNetns({ path: '/run/netns/tt-a', name: 'tt-a' });
    await pod.batch(['link set eth0 up']);
    expect(calls).toEqual([{ file: 'ip', args: ['-batch', '-'], options: { input: 'link set eth0 up\n', netns: '/run/netns/tt-a' } }]);
  });

  it('writes a batch as lines on stdin of one ip -batch - process', async () => {
    const { run, calls } = recorder();
    await createIpRunner(run).batch(['link set a up', 'route replace 10.250.0.5/32 dev a']);
    expect(calls).toEqual([
      { file: 'ip', args: ['-batch', '-'], options: { input: 'link set a up\nroute replace 10.250.0.5/32 dev a\n' } },
    ]);
  });

  it('writes FDB lines to one bridge -batch - process and reads fdb with bridge -json', async () => {
    const { run, calls } = recorder();
    const ip = createIpRunner(run, { path: '/run/netns/tt-a', name: 'tt-a' });
    await ip.bridgeBatch(['fdb replace 02:00:00:00:00:01 dev vxlan.tortie dst 10.0.0.2 self permanent']);
    expect(await ip.fdb('vxlan.tortie')).toEqual([]);
    expect(calls.map((c) => [c.file, ...c.args, c.options?.input ?? ''])).toEqual([
      ['bridge', '-n', 'tt-a', '-batch', '-', 'fdb replace 02:00:00:00:00:01 dev vxlan.tortie dst 10.0.0.2 self permanent\n'],
      ['bridge', '-n', 'tt-a', '-json', 'fdb', 'show', 'dev', 'vxlan.tortie', ''],
    ]);
  });

  it('runs nothing for an empty batch and refuses a line with a newline', async () => {
    const { run, calls } = recorder();
    const ip = createIpRunner(run);
    await ip.batch([]);
    expect(calls).toEqual([]);
    await expect(ip.batch(['link set a up\nlink del b'])).rejects.toThrow(/newline/);
  });

  it('names the failed batch line', async () => {
    const { run } = recorder([['ip -batch', ipFailure('Error: Nexthop has invalid gateway.\nCommand failed -:2')]]);
    let caught: unknown;
    try {
      await createIpRunner(run).batch(['link set a up', 'route add 1.2.3.4/32 via 9.9.9.9', 'link set b up']);
    } catch (err) {
      caught = err;
    }
    expect(hasErrorCode(caught, 'ERR_KERNEL')).toBe(true);
    expect(failedBatchLine(caught)).toBe(2);
    expect((caught as Error).message).toMatch(/\(batch line 2: route add 1\.2\.3\.4\/32 via 9\.9\.9\.9\)$/);
  });

  it('returns null for a missing link, checked against a full listing', async () => {
    const { run } = recorder([
      ['ip -json -d link show dev gone', ipFailure('Device "gone" does not exist.')],
      ['ip -json -d link show', '[{"ifindex":1,"ifname":"lo","mtu":65536}]'],
    ]);
    expect(await createIpRunner(run).link('gone')).toBeNull();
  });

  it('rethrows when the link exists but reading it failed', async () => {
    const { run } = recorder([
      ['ip -json -d link show dev lo', ipFailure('something else')],
      ['ip -json -d link show', '[{"ifindex":1,"ifname":"lo","mtu":65536}]'],
    ]);
    await expect(createIpRunner(run).link('lo')).rejects.toThrow(/something else/);
  });

  it('passes route filters to ip and back into the parsed routes', async () => {
    const { run, calls } = recorder([['ip -N -json -4 route show', '[{"dst":"10.250.0.5","scope":"253","flags":[]}]']]);
    const routes = await createIpRunner(run).routes(4, { dev: 'tor1', protocol: 80 });
    expect(calls[0]?.args).toEqual(['-N', '-json', '-4', 'route', 'show', 'table', 'main', 'dev', 'tor1', 'proto', '80']);
    expect(routes[0]).toMatchObject({ dst: '10.250.0.5/32', dev: 'tor1', protocol: 80, scope: 253 });
  });
});

describe('readUplinkMtu', () => {
  it("is the MTU of the default route's device", async () => {
    const { run } = recorder([
      ['ip -N -json -4 route show', '[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]}]'],
      ['ip -json -d link show dev eth0', '[{"ifindex":4,"ifname":"eth0","mtu":9001}]'],
    ]);
    expect(await readUplinkMtu(createIpRunner(run))).toBe(9001);
  });

  it('is null without a default route', async () => {
    const { run } = recorder([['ip -N -json -4 route show', '[{"dst":"10.0.0.0/8","dev":"eth0","flags":[]}]']]);
    expect(await readUplinkMtu(createIpRunner(run))).toBeNull();
  });
});
