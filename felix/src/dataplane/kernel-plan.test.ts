import { describe, expect, it } from 'vitest';
import { accept, chain, drop, inTable, match, meta, payload, rule, TABLE, type NftCommand, type NftObject, type NftRuleObj } from '../render/nft-json.js';
import { actualFromObjects, chainOutline, parseNftList, planNft, recordsAfter, sameRules, type ActualTable, type ChainRecord } from './kernel-plan.js';

// A small table in the shape renderRuleset gives: base chain, dispatch map,
// per-endpoint and per-policy chains, an address set and a named-port set.
function table(opts: { members?: string[]; policyRules?: number; withPolicy?: boolean; tw?: string } = {}): NftObject[] {
  const members = opts.members ?? ['10.0.1.1', '10.0.2.0/24'];
  const withPolicy = opts.withPolicy ?? true;
  const objs: NftObject[] = [
    { table: TABLE },
    chain('forward', { hook: 'forward' }),
    chain('tw-tora'),
    ...(withPolicy ? [chain('pi-knp/x/p')] : []),
    { set: { ...inTable, name: 'sel4-1', type: 'ipv4_addr', flags: ['interval'], elem: members.map(cidr) } },
    { set: { ...inTable, name: 'np4-1', type: ['ipv4_addr', 'inet_proto', 'inet_service'], elem: [{ concat: ['10.0.1.1', 6, 80] }] } },
    { map: { ...inTable, name: 'to-wl', type: 'ifname', map: 'verdict', elem: [['tora', { goto: { target: opts.tw ?? 'tw-tora' } }]] } },
    rule('forward', [{ vmap: { key: meta('oifname'), data: '@to-wl' } }], 'dispatch'),
    rule('tw-tora', withPolicy ? [{ jump: { target: 'pi-knp/x/p' } }] : [accept]),
  ];
  if (withPolicy) {
    for (let i = 0; i < (opts.policyRules ?? 1); i++) {
      objs.push(rule('pi-knp/x/p', [match(payload('ip', 'saddr'), '==', '@sel4-1'), { counter: null }, accept], `knp/x/p rule ${i}`));
    }
    objs.push(rule('pi-knp/x/p', [drop]));
  }
  return objs;
}
function cidr(c: string) {
  const [addr, len] = c.split('/') as [string, string | undefined];
  return len === undefined ? addr : { prefix: { addr, len: Number(len) } };
}

/**
 * What `nft -j list table` would print for these objects: handles, counters
 * with values, protocol names in concat elements, and an operator spelt the
 * kernel's way (so that listed rules never equal desired ones).
 */
function listed(objs: NftObject[]): unknown {
  let handle = 1;
  const out: unknown[] = [{ metainfo: { version: '1.0.6' } }];
  for (const o of objs) {
    if ('table' in o) out.push({ table: { ...o.table, handle: handle++ } });
    else if ('chain' in o) out.push({ chain: { ...o.chain, handle: handle++ } });
    else if ('set' in o) {
      const elem = o.set.elem?.map((e) => (typeof e === 'object' && e !== null && 'concat' in e ? { concat: (e['concat'] as unknown[]).map((p, i) => (i === 1 && p === 6 ? 'tcp' : p)) } : e));
      out.push({ set: { ...o.set, handle: handle++, ...(elem ? { elem } : {}) } });
    } else if ('map' in o) out.push({ map: { ...o.map, handle: handle++ } });
    else if ('rule' in o) {
      const expr = o.rule.expr.map((s) => ('counter' in s ? { counter: { packets: 7, bytes: 420 } } : 'match' in s ? { match: { ...(s['match'] as object), op: '==' } } : s));
      out.push({ rule: { ...o.rule, handle: handle++, expr } });
    }
  }
  return { nftables: out };
}

/** Apply, then let the next read (a resync) teach the listed keys, as NftTable does. */
function settle(objs: NftObject[]): { actual: ActualTable; records: Map<string, ChainRecord> } {
  const first = planNft(objs, null, new Map());
  const written = recordsAfter(first, new Map(), objs);
  const actual = parseNftList(listed(objs))!;
  const read = planNft(objs, actual, written);
  expect(read.kind).toBe('none');
  return { actual, records: recordsAfter(read, written, objs) };
}
const verbs = (cmds: NftCommand[]) =>
  cmds.map((c) => {
    const [verb, obj] = Object.entries(c)[0]!;
    const [kind, body] = Object.entries(obj as object)[0]! as [string, { name?: string; chain?: string }];
    return `${verb} ${kind} ${kind === 'rule' ? body.chain : body.name}`;
  });

describe('parseNftList', () => {
  it('is null without our table, and ignores other tables', () => {
    expect(parseNftList({ nftables: [{ metainfo: {} }] })).toBeNull();
    expect(parseNftList({ nftables: [{ table: { family: 'inet', name: 'other', handle: 1 } }] })).toBeNull();
    const a = parseNftList(listed(table()))!;
    expect([...a.chains.keys()]).toEqual(['forward', 'tw-tora', 'pi-knp/x/p']);
    expect(a.chains.get('pi-knp/x/p')!.rules[0]!.expr[1]).toEqual({ counter: null });
    expect([...a.sets.get('np4-1')!.elements.keys()]).toEqual(['{"concat":["10.0.1.1","tcp",80]}']);
  });
});

describe('planNft', () => {
  it('replaces the whole table when there is none, or when nothing is remembered (start, restart)', () => {
    const objs = table();
    const p = planNft(objs, null, new Map());
    expect(p.kind).toBe('full');
    expect(p.commands.slice(0, 2)).toEqual([{ add: { table: TABLE } }, { delete: { table: TABLE } }]);
    expect(p.commands.slice(2)).toEqual(objs.map((o) => ({ add: o })));
    expect(planNft(objs, parseNftList(listed(objs)), new Map()).kind).toBe('full');
  });

  it('plans nothing when the kernel holds what we want', () => {
    const objs = table();
    const { actual, records } = settle(objs);
    const p = planNft(table(), actual, records);
    expect(p.kind).toBe('none');
    expect(p.commands).toEqual([]);
  });

  it('chains never read back: trusted against our own last write, learnt at the first real read', () => {
    const objs = table();
    const first = planNft(objs, null, new Map());
    const records = recordsAfter(first, new Map(), objs);
    expect([...records.values()].every((r) => r.listedKey === null)).toBe(true);
    expect(planNft(objs, actualFromObjects(objs), records, { trustUnlearned: true }).kind).toBe('none');
    const fromKernel = planNft(objs, parseNftList(listed(objs)), records);
    expect(fromKernel.kind).toBe('none');
    expect([...fromKernel.learnedChains.keys()]).toEqual(['forward', 'tw-tora', 'pi-knp/x/p']);
    const learnt = recordsAfter(fromKernel, records, objs);
    expect([...learnt.values()].every((r) => r.listedKey !== null)).toBe(true);
  });

  it('a chain never read back whose listing is not what we wrote is rewritten at the first real read', () => {
    const objs = table();
    const records = recordsAfter(planNft(objs, null, new Map()), new Map(), objs);
    const retargeted = table({ tw: 'tw-tora' }).map((o) => ('rule' in o && o.rule.chain === 'tw-tora' ? { rule: { ...o.rule, expr: [drop] } } : o));
    const flushed = objs.filter((o) => !('rule' in o && o.rule.chain === 'pi-knp/x/p'));
    for (const kernel of [retargeted, flushed]) {
      const p = planNft(objs, parseNftList(listed(kernel)), records);
      expect(p.kind).toBe('incremental');
      expect(p.summary.chains).toBe(1);
      expect(p.learnedChains.size).toBe(2);
    }
  });

  it('outlines ignore how nft respells matches but not comments, verdicts, targets or set references', () => {
    const r = rule('c', [match(meta('nfproto'), '==', 'ipv4'), match(payload('ip', 'saddr'), '==', '@s'), { counter: null }, { jump: { target: 'x' } }], 'k rule 0').rule;
    const respelt: NftRuleObj = { ...r, expr: [match(payload('ip', 'saddr'), '==', '@s'), { counter: null }, { jump: { target: 'x' } }] };
    expect(chainOutline([respelt])).toBe(chainOutline([r]));
    expect(chainOutline([{ ...r, comment: 'k rule 1' }])).not.toBe(chainOutline([r]));
    expect(chainOutline([{ ...r, expr: [...r.expr.slice(0, 3), { jump: { target: 'y' } }] }])).not.toBe(chainOutline([r]));
    expect(chainOutline([{ ...r, expr: [match(payload('ip', 'saddr'), '==', '@t'), ...r.expr.slice(2)] }])).not.toBe(chainOutline([r]));
    expect(chainOutline([r, r])).not.toBe(chainOutline([r]));
  });

  it('plans from our own last write like from the kernel', () => {
    const { records } = settle(table());
    const fromMemory = planNft(table({ members: ['10.0.1.1', '10.0.3.3'] }), actualFromObjects(table()), records, { trustUnlearned: true });
    expect(verbs(fromMemory.commands)).toEqual(['delete element sel4-1', 'add element sel4-1']);
  });

  it('touches only the elements of the set whose members changed', () => {
    const { actual, records } = settle(table());
    const p = planNft(table({ members: ['10.0.1.1', '10.0.3.3'] }), actual, records);
    expect(p.commands).toEqual([
      { delete: { element: { ...inTable, name: 'sel4-1', elem: [{ prefix: { addr: '10.0.2.0', len: 24 } }] } } },
      { add: { element: { ...inTable, name: 'sel4-1', elem: ['10.0.3.3'] } } },
    ]);
    expect(p.summary).toMatchObject({ chains: 0, elementsAdded: 1, elementsDeleted: 1 });
  });

  it('rewrites only the chain whose rules changed: flush, then its rules', () => {
    const { actual, records } = settle(table());
    const p = planNft(table({ policyRules: 2 }), actual, records);
    expect(verbs(p.commands)).toEqual(['flush chain pi-knp/x/p', 'add rule pi-knp/x/p', 'add rule pi-knp/x/p', 'add rule pi-knp/x/p']);
    expect([...p.writtenChains.keys()]).toEqual(['pi-knp/x/p']);
  });

  it('rewrites a chain somebody else changed in the kernel (drift), though we want the same', () => {
    const objs = table();
    const { records } = settle(objs);
    const tampered = table();
    tampered.push(rule('pi-knp/x/p', [accept]));
    const p = planNft(objs, parseNftList(listed(tampered)), records);
    expect(verbs(p.commands)).toEqual(['flush chain pi-knp/x/p', 'add rule pi-knp/x/p', 'add rule pi-knp/x/p']);
  });

  it('deletes a chain only after the references to it are gone, and its set after that', () => {
    const { actual, records } = settle(table());
    const without = table({ withPolicy: false }).filter((o) => !('set' in o && o.set.name === 'sel4-1'));
    const v = verbs(planNft(without, actual, records).commands);
    expect(v).toEqual(['flush chain tw-tora', 'add rule tw-tora', 'flush chain pi-knp/x/p', 'delete chain pi-knp/x/p', 'delete set sel4-1']);
  });

  it('adds a new chain before the map element that names it, and replaces the changed verdict', () => {
    const { actual, records } = settle(table());
    const objs = table({ tw: 'tw-new' });
    objs.splice(2, 0, chain('tw-new'));
    objs.push(rule('tw-new', [drop]));
    const v = verbs(planNft(objs, actual, records).commands);
    expect(v).toEqual(['add chain tw-new', 'delete element to-wl', 'add element to-wl', 'add rule tw-new']);
  });

  it('falls back to a full replace when a set changes type', () => {
    const { actual, records } = settle(table());
    const objs = table().map((o) => ('set' in o && o.set.name === 'sel4-1' ? { set: { ...o.set, flags: [] } } : o));
    expect(planNft(objs, actual, records).kind).toBe('full');
  });

  it('forgets removed chains and keeps the records of untouched ones', () => {
    const { actual, records } = settle(table());
    const next = table({ policyRules: 3 });
    const p = planNft(next, actual, records);
    const after = recordsAfter(p, records, next);
    expect(after.get('pi-knp/x/p')!.listedKey).toBeNull();
    expect(after.get('forward')).toEqual(records.get('forward'));
  });
});

describe('sameRules and planning against our own last write', () => {
  it('rules are the same when they are the same objects or serialise alike, in order', () => {
    const a = table().flatMap((o) => ('rule' in o ? [o.rule] : []));
    const b = table().flatMap((o) => ('rule' in o ? [o.rule] : []));
    expect(a[0]).not.toBe(b[0]);
    expect(sameRules(a, a)).toBe(true);
    expect(sameRules(a, b)).toBe(true);
    expect(sameRules(a, [...b].reverse())).toBe(false);
    expect(sameRules(a, b.slice(1))).toBe(false);
  });

  it('an update planned against our own last write skips the sets and maps that are the very objects written', () => {
    const objs = table();
    const records = recordsAfter(planNft(objs, null, new Map()), new Map(), objs);
    const next = objs.map((o) => ('set' in o && o.set.name === 'sel4-1' ? { set: { ...o.set, elem: ['10.0.5.5'] } } : o));
    const p = planNft(next, actualFromObjects(objs), records, { trustUnlearned: true });
    expect(verbs(p.commands)).toEqual(['delete element sel4-1', 'add element sel4-1']);
  });
});

describe('kernel-plan.ts', () => {
  it('is pure: imports no process, file or socket module (STYLE.md §2)', async () => {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(new URL('./kernel-plan.ts', import.meta.url), 'utf8');
    const imported = [...text.matchAll(/(?:from|import)\s+['"]([^'"]+)['"]/g)].map((m) => m[1]!);
    expect(imported.filter((m) => /^(node:)?(child_process|fs|fs\/promises|net)$|^execa$/.test(m))).toEqual([]);
    expect(imported.length).toBeGreaterThan(0);
  });
});
