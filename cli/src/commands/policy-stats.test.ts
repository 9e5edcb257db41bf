import { describe, expect, it } from 'vitest';
import { TortieError } from '../../../lib/errors.js';
import type { CommandRunner } from '../../../lib/kernel/exec.js';
import { parseConfigFromEnv } from '../config.js';
import type { CommandContext } from '../context.js';
import { formatPolicyStats, runPolicyStats } from './policy-stats.js';

function contextFor() {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CommandContext = {
    config: parseConfigFromEnv({}),
    datastore: async () => {
      throw new Error('policy stats reads the kernel, not the datastore');
    },
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    readStdin: async () => '',
  };
  return { ctx, out, err };
}

const rule = (comment: string, packets: number, bytes: number) => ({
  rule: { family: 'inet', table: 'tortie', chain: 'pi-x', handle: 5, comment, expr: [{ match: {} }, { counter: { packets, bytes } }, { accept: null }] },
});
const listed = JSON.stringify({ nftables: [{ metainfo: {} }, rule('knp/y/allow-80 rule 0', 3, 180), rule('knp/y/allow-80 rule 0', 1, 60), rule('gnp/base rule 1', 7, 700)] });

describe('tortie policy stats', () => {
  it('lists the table with nft in the named netns and prints counters per policy rule', async () => {
    const calls: unknown[] = [];
    const run: CommandRunner = async (file, args, options) => {
      calls.push([file, args, options]);
      return listed;
    };
    const c = contextFor();
    expect(await runPolicyStats(c.ctx, { output: 'table', netns: 'n1' }, run)).toBe(0);
    expect(calls).toEqual([['nft', ['-j', 'list', 'table', 'inet', 'tortie'], { netns: '/run/netns/n1' }]]);
    expect(c.out.join('')).toBe('POLICY           RULE   PACKETS   BYTES\ngnp/base         1      7         700\nknp/y/allow-80   0      4         240\n');
  });

  it('prints JSON with -o json', async () => {
    const c = contextFor();
    expect(await runPolicyStats(c.ctx, { output: 'json' }, async () => listed)).toBe(0);
    expect(JSON.parse(c.out.join(''))).toEqual({
      counters: [
        { policyId: 'gnp/base', ruleIndex: 1, packets: 7, bytes: 700 },
        { policyId: 'knp/y/allow-80', ruleIndex: 0, packets: 4, bytes: 240 },
      ],
      kubernetesStages: [],
    });
  });

  it('exits 3 when the table is not there', async () => {
    const c = contextFor();
    const run: CommandRunner = async () => {
      throw new TortieError('ERR_KERNEL', 'nft failed', {
        details: { command: 'nft -j list table inet tortie', exitCode: 1, stderr: 'Error: No such file or directory; did you mean table ...', stdout: '', signal: null, timedOut: false },
      });
    };
    expect(await runPolicyStats(c.ctx, { output: 'table' }, run)).toBe(3);
    expect(c.err.join('')).toBe('table inet tortie not found on this node: the policy agent has not programmed it\n');
  });

  it('exits 1 for a netns name that is no name', async () => {
    const c = contextFor();
    expect(await runPolicyStats(c.ctx, { output: 'table', netns: '../etc' }, async () => listed)).toBe(1);
    expect(c.err.join('')).toContain('--netns "../etc"');
  });

  it('says so when no policy rule is programmed', () => {
    expect(formatPolicyStats([])).toBe('no policy rules are programmed\n');
  });

  it('prints the Kubernetes stage of each endpoint after the policy rules', () => {
    const stage = { endpoint: 'y/web', direction: 'ingress' as const, allowed: { packets: 3, bytes: 180 }, dropped: { packets: 2, bytes: 120 } };
    expect(formatPolicyStats([{ policyId: 'gnp/base', ruleIndex: 0, packets: 1, bytes: 60 }], [stage])).toBe(
      'POLICY     RULE   PACKETS   BYTES\ngnp/base   0      1         60\n\nENDPOINT   DIRECTION   K8S-ALLOWED   K8S-DROPPED   BYTES\ny/web      ingress     3             2             300\n',
    );
  });
});
