import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TortieError } from '../../../lib/errors.js';
import type { CommandRunner } from '../../../lib/kernel/exec.js';
import { NftTable, offendingRule, parseNftVersion } from './nft-table.js';

describe('parseNftVersion', () => {
  it.each([
    ['nftables v1.0.6 (Lester Gooch #5)', [1, 0, 6]],
    ['nftables v0.9.8 (E.D.S.)', [0, 9, 8]],
    ['nftables v1.1 (x)', [1, 1, 0]],
    ['bash: nft: command not found', null],
  ])('%s', (text, want) => {
    expect(parseNftVersion(text)).toEqual(want);
  });
});

describe('offendingRule', () => {
  const cmds = [{ add: { table: { family: 'inet', name: 'tortie' } } }, { add: { chain: { name: 'c' } } }];
  it('has nothing to say about nft’s "internal:0:0-0" errors (the caller bisects with nft -c)', () => {
    expect(offendingRule('internal:0:0-0: Error: Could not process rule: No such file or directory', cmds)).toBeNull();
  });
  it('picks the command a column pointer points into', () => {
    const col = '{"nftables":['.length + JSON.stringify(cmds[0]).length + 3;
    expect(offendingRule(`/dev/stdin:1:${col}-${col + 2}: Error: bad`, cmds)).toBe(JSON.stringify(cmds[1]));
  });
});

describe('NftTable without a kernel', () => {
  const failing = (stdout: string | null): CommandRunner => async () => {
    if (stdout === null) throw new TortieError('ERR_KERNEL', 'nft: not found', { details: { command: 'nft', stderr: 'not found', exitCode: 127, signal: null, timedOut: false } });
    return stdout;
  };
  it('refuses to start without nft, or with nft older than 1.0', async () => {
    await expect(new NftTable({ run: failing(null) }).checkNft()).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    await expect(new NftTable({ run: failing('nftables v0.9.3 (Topsy)') }).checkNft()).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    await expect(new NftTable({ run: failing('nftables v1.0.6 (Lester Gooch #5)') }).checkNft()).resolves.toMatch(/1\.0\.6/);
  });

  it('backs off exponentially, capped, and is fatal after N consecutive failures', async () => {
    const t = new NftTable({ run: failing(null), maxConsecutiveFailures: 4, backoff: { initialMs: 100, maxMs: 350 } });
    t.setDesired([]);
    const delays: number[] = [];
    const fatal: boolean[] = [];
    for (let i = 0; i < 4; i++) {
      const err = (await t.apply().catch((e: unknown) => e)) as TortieError;
      expect(err.code).toBe('ERR_NFT_APPLY');
      fatal.push(err.details!['fatal'] as boolean);
      delays.push(t.retryDelayMs());
    }
    expect(delays).toEqual([100, 200, 350, 350]);
    expect(fatal).toEqual([false, false, false, true]);
    expect(t.ready).toBe(false);
    expect(t.isDirty).toBe(true);
  });

  it('writes nothing when the listed table is what a previous apply wrote', async () => {
    const calls: string[][] = [];
    let table: string | null = null;
    const run: CommandRunner = async (file, args, opts) => {
      calls.push([file, ...args]);
      if (args.includes('list')) {
        if (table === null) throw new TortieError('ERR_KERNEL', 'x', { details: { command: 'nft', stderr: 'Error: No such file or directory', exitCode: 1, signal: null, timedOut: false } });
        return table;
      }
      // The "kernel": keep what the full replace added, as nft would list it.
      expect(opts?.input).toBeUndefined();
      const cmds = (JSON.parse(readFileSync(args.at(-1)!, 'utf8')) as { nftables: Record<string, unknown>[] }).nftables;
      table = JSON.stringify({ nftables: cmds.slice(2).map((c) => c['add']) });
      return '';
    };
    const t = new NftTable({ run });
    const objs = [{ table: { family: 'inet', name: 'tortie' } }, { chain: { family: 'inet', table: 'tortie', name: 'c' } }];
    t.setDesired(objs);
    expect((await t.apply()).kind).toBe('full');
    expect((await t.apply()).kind).toBe('none');
    t.resync(); // read the kernel this time instead of trusting the last write
    expect((await t.apply()).kind).toBe('none');
    // One read, at the resync: a fresh table is replaced whole without reading, and nothing is read back after a write.
    expect(calls.filter((c) => c.includes('list')).length).toBe(1);
    expect(calls[0]).toEqual(expect.arrayContaining(['-j', '-f']));
    expect(t.transactions).toBe(1);
    expect(calls.filter((c) => c.includes('-f')).length).toBe(1);
  });
});
