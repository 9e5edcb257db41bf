import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  type IpamBlockSpec,
  type PoolInfo,
  addressesOfHandle,
  affinityName,
  allocateFromBlock,
  assignAddressInBlock,
  blockCidrForAddress,
  blockForAddress,
  blockName,
  chooseBlockToClaim,
  newBlock,
  offsetOf,
  releaseAddress,
  releaseFromBlock,
  selectPools,
} from './allocate.js';

const pool = (name: string, cidr: string, spec: Partial<PoolInfo['spec']> = {}): PoolInfo => ({ name, spec: { cidr, ...spec } });

/** Every invariant a block must keep, whatever was done to it. */
function checkBlock(block: IpamBlockSpec): void {
  const size = block.allocations.length;
  const free = new Set(block.unallocated);
  expect(free.size).toBe(block.unallocated.length); // no offset listed twice
  for (let o = 0; o < size; o++) {
    const a = block.allocations[o];
    if (a === null) expect(free.has(o)).toBe(true);
    else {
      expect(free.has(o)).toBe(false);
      expect(block.attributes[a!]).toBeDefined();
    }
  }
  for (const o of free) expect(o >= 0 && o < size).toBe(true);
  // Every attribute is used (releases compact them).
  const used = new Set(block.allocations.filter((a) => a !== null));
  expect(used.size).toBe(block.attributes.length);
}

describe('names', () => {
  it.each([
    ['10.244.1.0/26', '10-244-1-0-26'],
    ['fd00:10:244::/122', 'fd00-10-244---122'],
  ])('block %s is named %s, as Calico names it', (cidr, name) => {
    expect(blockName(cidr)).toBe(name);
  });
  it('an affinity is named <node>-<block name>', () => {
    expect(affinityName('node-1', '10.244.1.0/26')).toBe('node-1-10-244-1-0-26');
  });
});

describe('allocateFromBlock', () => {
  it('hands out every address of the block, network and broadcast of the pool included (as Calico)', () => {
    const block = newBlock('10.0.0.0/30', 'n1');
    const r = allocateFromBlock(block, { handleId: 'h', attributes: null, count: 10 });
    expect(r?.addresses).toEqual(['10.0.0.0', '10.0.0.1', '10.0.0.2', '10.0.0.3']);
    expect(allocateFromBlock(r!.block, { handleId: 'h2', attributes: null, count: 1 })).toBeNull();
  });
  it('skips reserved offsets', () => {
    const block = newBlock('10.0.0.0/30', 'n1');
    const r = allocateFromBlock(block, { handleId: 'h', attributes: null, count: 4, reserved: new Set([0, 3]) });
    expect(r?.addresses).toEqual(['10.0.0.1', '10.0.0.2']);
  });
  it('gives IPv6 addresses from an IPv6 block', () => {
    const r = allocateFromBlock(newBlock('fd00::/126', null), { handleId: 'h', attributes: { pod: 'p' }, count: 2 });
    expect(r?.addresses).toEqual(['fd00::', 'fd00::1']);
    expect(r?.block.attributes).toEqual([{ handle_id: 'h', secondary: { pod: 'p' } }]);
  });
  it('does not change the block it is given', () => {
    const block = newBlock('10.0.0.0/29', 'n1');
    const before = structuredClone(block);
    allocateFromBlock(block, { handleId: 'h', attributes: null, count: 3 });
    expect(block).toEqual(before);
  });
  it('a released address goes to the back of the queue', () => {
    let b = allocateFromBlock(newBlock('10.0.0.0/29', 'n1'), { handleId: 'a', attributes: null, count: 1 })!.block;
    b = releaseFromBlock(b, 'a').block;
    const r = allocateFromBlock(b, { handleId: 'b', attributes: null, count: 1 })!;
    expect(r.addresses).toEqual(['10.0.0.1']);
  });
});

describe('assign and release single addresses', () => {
  it('assigns a given address once, and refuses it to anyone after', () => {
    const b = assignAddressInBlock(newBlock('10.0.0.0/29', 'n1'), '10.0.0.5', { handleId: 'a', attributes: null })!;
    expect(addressesOfHandle(b, 'a')).toEqual(['10.0.0.5']);
    expect(assignAddressInBlock(b, '10.0.0.5', { handleId: 'b', attributes: null })).toBeNull();
    expect(assignAddressInBlock(b, '10.0.1.5', { handleId: 'b', attributes: null })).toBeNull();
    checkBlock(b);
  });
  it('releaseAddress frees only what the named handle holds', () => {
    const b = assignAddressInBlock(newBlock('10.0.0.0/29', 'n1'), '10.0.0.5', { handleId: 'a', attributes: null })!;
    expect(releaseAddress(b, '10.0.0.5', 'b')).toBeNull();
    const freed = releaseAddress(b, '10.0.0.5', 'a')!;
    expect(addressesOfHandle(freed, 'a')).toEqual([]);
    checkBlock(freed);
    expect(releaseAddress(freed, '10.0.0.5')).toBeNull();
  });
});

describe('blocks of a pool', () => {
  it('chooseBlockToClaim returns the first block no one has', () => {
    const p = pool('p', '10.244.0.0/24', { blockSize: 26 });
    expect(chooseBlockToClaim(p, [])).toBe('10.244.0.0/26');
    expect(chooseBlockToClaim(p, [{ cidr: '10.244.0.0/26' }, { cidr: '10.244.0.128/26' }])).toBe('10.244.0.64/26');
    const all = ['0', '64', '128', '192'].map((o) => ({ cidr: `10.244.0.${o}/26` }));
    expect(chooseBlockToClaim(p, all)).toBeNull();
  });
  it('defaults the block size to /26 and /122', () => {
    expect(chooseBlockToClaim(pool('p', '10.0.0.0/16'), [])).toBe('10.0.0.0/26');
    expect(chooseBlockToClaim(pool('p', 'fd00::/64'), [{ cidr: 'fd00::/122' }])).toBe('fd00::40/122');
  });
  it('finds the block of an address', () => {
    const p = pool('p', '10.244.0.0/16', { blockSize: 26 });
    expect(blockCidrForAddress(p, '10.244.3.77')).toBe('10.244.3.64/26');
    expect(blockCidrForAddress(p, '10.245.0.1')).toBeNull();
    expect(blockForAddress([{ cidr: '10.244.3.64/26' }], '10.244.3.77')).toEqual({ cidr: '10.244.3.64/26' });
    expect(offsetOf(newBlock('10.244.3.64/26', null), '10.244.3.77')).toBe(13);
  });
});

describe('selectPools', () => {
  const pools = [
    pool('default-ipv4', '10.244.0.0/16'),
    pool('off', '10.10.0.0/16', { disabled: true }),
    pool('rack-a', '10.20.0.0/16', { nodeSelector: "rack == 'a'" }),
    pool('tunnels', '10.30.0.0/16', { allowedUses: ['Tunnel'] }),
    pool('default-ipv6', 'fd00::/48'),
  ];
  it('never uses a disabled pool, honours nodeSelector and allowedUses, and splits the families', () => {
    const r = selectPools(pools, { rack: 'b' });
    expect(r).toEqual({ ok: true, ipv4: [pools[0]], ipv6: [pools[4]] });
    const a = selectPools(pools, { rack: 'a' });
    expect(a.ok && a.ipv4.map((p) => p.name)).toEqual(['default-ipv4', 'rack-a']);
  });
  it('takes requested pools by name or CIDR, in the order asked', () => {
    const r = selectPools(pools, { rack: 'a' }, { ipv4: ['10.20.0.0/16', 'default-ipv4'] });
    expect(r.ok && r.ipv4.map((p) => p.name)).toEqual(['rack-a', 'default-ipv4']);
  });
  it.each([
    [['nope'], 'does not exist'],
    [['off'], 'is disabled'],
    [['rack-a'], 'does not select this node'],
    [['tunnels'], 'does not allow workloads'],
    [['default-ipv6'], 'is an IPv6 pool'],
  ])('refuses a request for %j: %s', (names, reason) => {
    const r = selectPools(pools, { rack: 'b' }, { ipv4: names });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toContain(reason);
  });
});

describe('properties of one block', () => {
  type Op = { op: 'alloc'; handle: number; count: number } | { op: 'release'; handle: number } | { op: 'releaseOne'; handle: number; pick: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ op: fc.constant('alloc' as const), handle: fc.integer({ min: 0, max: 5 }), count: fc.integer({ min: 1, max: 5 }) }),
    fc.record({ op: fc.constant('release' as const), handle: fc.integer({ min: 0, max: 5 }) }),
    fc.record({ op: fc.constant('releaseOne' as const), handle: fc.integer({ min: 0, max: 5 }), pick: fc.nat() }),
  );

  it('never hands out an address twice or outside the block, and accounts for every address', () => {
    fc.assert(
      fc.property(fc.constantFrom('10.1.2.0/28', '10.1.2.240/29', 'fd00::10/124'), fc.array(opArb, { maxLength: 60 }), (cidr, ops) => {
        let block = newBlock(cidr, 'n1');
        const held = new Map<string, string>(); // address -> handle (the model)
        for (const op of ops) {
          const handle = `h${op.handle}`;
          if (op.op === 'alloc') {
            const r = allocateFromBlock(block, { handleId: handle, attributes: { pod: handle }, count: op.count });
            const freeBefore = block.unallocated.length;
            if (r === null) {
              expect(freeBefore).toBe(0);
              continue;
            }
            expect(r.addresses.length).toBe(Math.min(op.count, freeBefore));
            for (const a of r.addresses) {
              expect(held.has(a)).toBe(false);
              expect(offsetOf(block, a)).not.toBeNull();
              held.set(a, handle);
            }
            block = r.block;
          } else if (op.op === 'release') {
            const r = releaseFromBlock(block, handle);
            const expected = [...held].filter(([, h]) => h === handle).map(([a]) => a).sort();
            expect([...r.released].sort()).toEqual(expected);
            for (const a of r.released) held.delete(a);
            block = r.block;
          } else {
            const mine = [...held].filter(([, h]) => h === handle).map(([a]) => a);
            if (mine.length === 0) continue;
            const a = mine[op.pick % mine.length]!;
            block = releaseAddress(block, a, handle)!;
            held.delete(a);
          }
          checkBlock(block);
        }
        for (let h = 0; h <= 5; h++) {
          const handle = `h${h}`;
          expect(addressesOfHandle(block, handle).sort()).toEqual([...held].filter(([, x]) => x === handle).map(([a]) => a).sort());
        }
      }),
      { numRuns: 300 },
    );
  });

  it('release of everything converges to a block as free as a new one', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        let block = newBlock('10.9.0.0/28', 'n1');
        for (const op of ops) {
          if (op.op === 'alloc') block = allocateFromBlock(block, { handleId: `h${op.handle}`, attributes: null, count: op.count })?.block ?? block;
          else block = releaseFromBlock(block, `h${op.handle}`).block;
        }
        for (let h = 0; h <= 5; h++) block = releaseFromBlock(block, `h${h}`).block;
        expect(block.attributes).toEqual([]);
        expect(block.allocations.every((a) => a === null)).toBe(true);
        expect([...block.unallocated].sort((x, y) => x - y)).toEqual(newBlock('10.9.0.0/28', 'n1').unallocated);
      }),
      { numRuns: 200 },
    );
  });
});

describe('purity', () => {
  it('allocate.ts imports nothing that does I/O', () => {
    const source = readFileSync(fileURLToPath(new URL('./allocate.ts', import.meta.url)), 'utf8');
    const imports = [...source.matchAll(/from '([^']+)'/g)].map((m) => m[1]);
    for (const i of imports) expect(i).not.toMatch(/^(node:|execa|@kubernetes|etcd3)|datastore/);
  });
});
