import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AdjRibIn } from './adj-rib-in.js';
import { selectBest } from './best-path.js';
import { LocRib, localSource, mergeChanges, peerSource, type LocRibChanges } from './loc-rib.js';
import { isSamePath, type Path } from './path.js';
import { ibgpPeer, path, peer } from './paths.test-helpers.js';

const P = '10.10.0.0/26';
const A = peer('10.1.0.1', { asn: 65001 });
const B = peer('10.1.0.2', { asn: 65002 });
const NODE2 = ibgpPeer('10.0.0.2');

describe('LocRib', () => {
  it('reports a new prefix, a better path, a worse path that changes nothing, and the removal', () => {
    const rib = new LocRib();
    const a = path(P, A, { asPath: [{ type: 'AS_SEQUENCE', asns: [65001, 65009] }] });
    const b = path(P, B);
    expect(rib.setCandidate(P, 'peer:a', a)).toEqual([{ prefix: P, best: a }]);
    expect(rib.setCandidate(P, 'peer:b', b)).toEqual([{ prefix: P, best: b }]);
    expect(rib.setCandidate(P, 'peer:a', null)).toEqual([]);
    expect(rib.setCandidate(P, 'peer:b', null)).toEqual([{ prefix: P, best: null }]);
    expect(rib.size).toBe(0);
  });

  it('does not report a repeat of the same route, nor a stale mark coming or going', () => {
    const rib = new LocRib();
    const a = path(P, A);
    rib.setCandidate(P, 'peer:a', a);
    expect(rib.setCandidate(P, 'peer:a', { ...a })).toEqual([]);
    expect(rib.setCandidate(P, 'peer:a', { ...a, isStale: true })).toEqual([]);
  });

  it('takes a peer’s accepted paths from its Adj-RIB-In and drops them all when the peer goes', () => {
    const loc = new LocRib();
    const ribIn = new AdjRibIn(NODE2, { localAs: 64512, routerId: '10.0.0.1', clusterId: null }, (p) => p.prefix !== '10.10.1.0/26');
    const r = ribIn.applyUpdate({ update: { withdrawn: [], attributes: { origin: 'IGP', asPath: [], nextHop: '10.0.0.2' }, nlri: [P, '10.10.1.0/26'] }, errorAction: null });
    const changes = loc.applyPeer(NODE2.address, r.changed, (p) => ribIn.accepted(p));
    expect(changes.changed.map((c) => c.prefix)).toEqual([P]);
    expect(loc.best(P)?.nextHop).toBe('10.0.0.2');
    expect(loc.removePeer(NODE2.address)).toEqual({ changed: [{ prefix: P, best: null }] });
  });

  it('replaces a local origin’s whole set, reporting only the difference', () => {
    const rib = new LocRib();
    const x = path('10.10.0.0/25', null);
    const y = path('10.10.0.128/26', null);
    const z = path('10.96.0.0/12', null);
    expect(rib.setLocal('blocks', [x, y]).changed.map((c) => c.prefix)).toEqual([x.prefix, y.prefix]);
    expect(rib.setLocal('services', [z]).changed.map((c) => c.prefix)).toEqual([z.prefix]);
    expect(rib.setLocal('blocks', [y, { ...x }])).toEqual({ changed: [] });
    expect(rib.setLocal('blocks', [y])).toEqual({ changed: [{ prefix: x.prefix, best: null }] });
    expect([...rib.bests()].map((p) => p.prefix).sort()).toEqual([y.prefix, z.prefix]);
  });

  it('prefers our own path to a learned one and falls back to the learned one when ours goes', () => {
    const rib = new LocRib();
    const learned = path(P, NODE2);
    rib.setCandidate(P, 'peer:10.0.0.2', learned);
    const own = path(P, null);
    expect(rib.setLocal('blocks', [own]).changed).toEqual([{ prefix: P, best: own }]);
    expect(rib.setLocal('blocks', []).changed).toEqual([{ prefix: P, best: learned }]);
  });

  it('gives the same best whatever order the candidates arrive in', () => {
    const candidates = [
      ['peer:a', path(P, A)],
      ['peer:b', path(P, B, { multiExitDisc: 3 })],
      ['peer:n', path(P, NODE2, { localPref: 150 })],
      ['local:blocks', path(P, null, { localPref: 100 })],
    ] as const;
    const orders = [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1]];
    const bests = orders.map((order) => {
      const rib = new LocRib();
      for (const i of order) rib.setCandidate(P, candidates[i]![0], candidates[i]![1]);
      rib.setCandidate(P, 'local:blocks', null);
      return rib.best(P);
    });
    expect(bests.every((b) => b === candidates[2][1])).toBe(true);
  });

  it('merges change lists keeping the last change of each prefix', () => {
    const a = path(P, A);
    expect(mergeChanges({ changed: [{ prefix: P, best: a }, { prefix: 'x', best: null }] }, { changed: [{ prefix: P, best: null }] })).toEqual({
      changed: [{ prefix: 'x', best: null }, { prefix: P, best: null }],
    });
  });

  it('snapshots every best path as changes for a new session', () => {
    const rib = new LocRib();
    rib.setLocal('blocks', [path('10.10.0.0/26', null)]);
    rib.setCandidate('10.20.0.0/26', 'peer:a', path('10.20.0.0/26', A));
    expect(rib.snapshot().changed.map((c) => c.prefix).sort()).toEqual(['10.10.0.0/26', '10.20.0.0/26']);
  });
});

describe('LocRib against a plain model (lone peer paths are stored without a container)', () => {
  const PEERS = [peer('10.0.0.1'), peer('10.0.0.2', { asn: 65002 }), ibgpPeer('10.0.0.3')];
  const PREFIXES = ['10.1.0.0/24', '10.1.1.0/24', '10.1.2.0/24'];
  type Op =
    | { kind: 'peer'; peer: number; prefix: number; med: number | null }
    | { kind: 'local'; origin: 'blocks' | 'services'; prefixes: number[] }
    | { kind: 'drop-peer'; peer: number };
  const arbOp: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('peer' as const), peer: fc.nat({ max: 2 }), prefix: fc.nat({ max: 2 }), med: fc.option(fc.nat({ max: 2 })) }),
    fc.record({ kind: fc.constant('local' as const), origin: fc.constantFrom('blocks' as const, 'services' as const), prefixes: fc.subarray([0, 1, 2]) }),
    fc.record({ kind: fc.constant('drop-peer' as const), peer: fc.nat({ max: 2 }) }),
  );

  it('holds the same candidates and bests, and reports exactly the best changes', () => {
    fc.assert(
      fc.property(fc.array(arbOp, { maxLength: 40 }), (ops) => {
        const rib = new LocRib();
        const model = new Map<string, Map<string, Path>>();
        const modelBest = (prefix: string) => selectBest([...(model.get(prefix)?.values() ?? [])]);
        const setModel = (prefix: string, source: string, p: Path | null) => {
          const candidates = model.get(prefix) ?? new Map<string, Path>();
          if (p === null) candidates.delete(source);
          else candidates.set(source, p);
          model.set(prefix, candidates);
        };
        for (const op of ops) {
          const before = new Map(PREFIXES.map((prefix) => [prefix, modelBest(prefix)]));
          let changes: LocRibChanges;
          if (op.kind === 'peer') {
            const from = PEERS[op.peer]!;
            const prefix = PREFIXES[op.prefix]!;
            const p = op.med === null ? null : path(prefix, from, { multiExitDisc: op.med });
            changes = { changed: rib.setCandidate(prefix, peerSource(from.address), p) };
            setModel(prefix, peerSource(from.address), p);
          } else if (op.kind === 'local') {
            const paths = op.prefixes.map((i) => path(PREFIXES[i]!, null, { multiExitDisc: op.origin === 'blocks' ? 0 : 1 }));
            changes = rib.setLocal(op.origin, paths);
            for (const prefix of PREFIXES) setModel(prefix, localSource(op.origin), paths.find((p) => p.prefix === prefix) ?? null);
          } else {
            changes = rib.removePeer(PEERS[op.peer]!.address);
            for (const prefix of PREFIXES) setModel(prefix, peerSource(PEERS[op.peer]!.address), null);
          }
          const expected = PREFIXES.filter((prefix) => !isSamePath(before.get(prefix), modelBest(prefix)));
          expect(changes.changed.map((c) => c.prefix).sort()).toEqual(expected.sort());
          for (const prefix of PREFIXES) {
            expect(rib.best(prefix)).toEqual(modelBest(prefix));
            expect(new Set(rib.candidates(prefix))).toEqual(new Set(model.get(prefix)?.values() ?? []));
          }
          expect(rib.size).toBe(PREFIXES.filter((prefix) => (model.get(prefix)?.size ?? 0) > 0).length);
        }
      }),
      { numRuns: 300 },
    );
  });
});
