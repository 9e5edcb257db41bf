/**
 * STYLE.md §1/§8: output depends on current state only. For the RIBs that
 * means: whatever order peers' UPDATEs interleave in (each peer's own order
 * kept, as TCP keeps it), the Loc-RIB ends with the bests of the final
 * Adj-RIBs-In; and an Adj-RIB-Out fed change by change ends holding exactly
 * what a full-table export of the final Loc-RIB would send.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AFI_IPV4, type DecodedUpdate } from '../codec/index.js';
import { AdjRibIn } from './adj-rib-in.js';
import { AdjRibOut, exportPath } from './adj-rib-out.js';
import { LocRib, mergeChanges, type LocRibChanges } from './loc-rib.js';
import { selectBest } from './best-path.js';
import { ibgpPeer, peer } from './paths.test-helpers.js';
import type { PeerRef } from './path.js';

const ME = { localAs: 64512, routerId: '10.0.0.1', clusterId: '10.0.0.1' };
const PEERS: PeerRef[] = [peer('10.1.0.1', { asn: 65001 }), peer('10.1.0.2', { asn: 65002 }), ibgpPeer('10.0.0.2', { isRouteReflectorClient: true }), ibgpPeer('10.0.0.3')];
const PREFIXES = ['10.244.0.0/26', '10.244.0.64/26', '10.244.1.0/26', '0.0.0.0/0'];

type Op = { peer: number; kind: 'announce'; prefixes: string[]; localPref: number; med: number; extra: number[] } | { peer: number; kind: 'withdraw'; prefixes: string[] } | { peer: number; kind: 'restart' } | { peer: number; kind: 'eor' };

const arbOp: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    peer: fc.integer({ min: 0, max: PEERS.length - 1 }),
    kind: fc.constant('announce' as const),
    prefixes: fc.subarray(PREFIXES, { minLength: 1 }),
    localPref: fc.constantFrom(100, 200),
    med: fc.integer({ min: 0, max: 2 }),
    extra: fc.array(fc.constantFrom(65010, 65011, 64512), { maxLength: 2 }),
  }),
  fc.record({ peer: fc.integer({ min: 0, max: PEERS.length - 1 }), kind: fc.constant('withdraw' as const), prefixes: fc.subarray(PREFIXES, { minLength: 1 }) }),
  fc.record({ peer: fc.integer({ min: 0, max: PEERS.length - 1 }), kind: fc.constant('restart' as const) }),
  fc.record({ peer: fc.integer({ min: 0, max: PEERS.length - 1 }), kind: fc.constant('eor' as const) }),
);

function toUpdate(op: Op & { kind: 'announce' | 'withdraw' }): DecodedUpdate {
  const from = PEERS[op.peer]!;
  if (op.kind === 'withdraw') return { update: { withdrawn: op.prefixes, attributes: {}, nlri: [] }, errorAction: null };
  const asns = from.isInternal ? op.extra : [from.asn, ...op.extra];
  return {
    update: {
      withdrawn: [],
      attributes: { origin: 'IGP', asPath: asns.length === 0 ? [] : [{ type: 'AS_SEQUENCE', asns }], nextHop: from.address, multiExitDisc: op.med, ...(from.isInternal ? { localPref: op.localPref } : {}) },
      nlri: op.prefixes,
    },
    errorAction: null,
  };
}

/** Plays the ops; returns the Loc-RIB, the Adj-RIBs-In and every change emitted. */
function play(ops: readonly Op[]): { loc: LocRib; ins: AdjRibIn[]; changes: LocRibChanges[] } {
  const loc = new LocRib();
  const ins = PEERS.map((p) => new AdjRibIn(p, ME));
  const changes: LocRibChanges[] = [];
  for (const op of ops) {
    const rib = ins[op.peer]!;
    let changed: readonly string[];
    if (op.kind === 'restart') {
      changed = rib.markStale();
    } else if (op.kind === 'eor') {
      changed = rib.applyUpdate({ update: { withdrawn: [], attributes: {}, nlri: [] }, errorAction: null }).changed;
    } else {
      changed = rib.applyUpdate(toUpdate(op)).changed;
    }
    changes.push(loc.applyPeer(rib.peer.address, changed, (p) => rib.accepted(p)));
  }
  return { loc, ins, changes };
}

/** Interleaves per-peer op lists in the order the `picks` say. */
function interleave(perPeer: Op[][], picks: readonly number[]): Op[] {
  const queues = perPeer.map((q) => [...q]);
  const out: Op[] = [];
  let i = 0;
  while (queues.some((q) => q.length > 0)) {
    const nonEmpty = queues.filter((q) => q.length > 0);
    out.push(nonEmpty[(picks[i++] ?? 0) % nonEmpty.length]!.shift()!);
  }
  return out;
}

const bestsOf = (loc: LocRib) =>
  PREFIXES.map((p) => {
    const b = loc.best(p);
    return b === null ? null : { prefix: b.prefix, from: b.peer?.address, attributes: b.attributes };
  });

describe('RIB convergence', () => {
  it('the Loc-RIB ends with the bests of the final Adj-RIBs-In, whatever the interleaving of peers', () => {
    fc.assert(
      fc.property(fc.array(arbOp, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 30 }), (ops, picks) => {
        const perPeer = PEERS.map((_, i) => ops.filter((o) => o.peer === i));
        const a = play(ops);
        const b = play(interleave(perPeer, picks));
        expect(bestsOf(b.loc)).toEqual(bestsOf(a.loc));
        // And equal to deciding from scratch over the final Adj-RIBs-In.
        const fromScratch = PREFIXES.map((p) => selectBest(a.ins.map((r) => r.accepted(p)).filter((x) => x !== null)));
        expect(PREFIXES.map((p) => a.loc.best(p))).toEqual(fromScratch);
      }),
      { numRuns: 500 },
    );
  });

  it('an Adj-RIB-Out fed change by change (or squashed) holds what a full export of the final Loc-RIB gives', () => {
    fc.assert(
      fc.property(fc.array(arbOp, { maxLength: 30 }), fc.integer({ min: 0, max: PEERS.length - 1 }), (ops, target) => {
        const { loc, changes } = play(ops);
        const to = { peer: PEERS[target]!, localAddress: { ipv4: '10.0.0.1' }, afis: [AFI_IPV4] };
        const stepwise = new AdjRibOut(to, ME);
        for (const c of changes) stepwise.planUpdates(c);
        const squashed = new AdjRibOut(to, ME);
        squashed.planUpdates(mergeChanges(...changes));
        for (const prefix of PREFIXES) {
          const best = loc.best(prefix);
          const expected = best === null ? undefined : (exportPath(best, to, ME) ?? undefined);
          expect(stepwise.sent(prefix)).toEqual(expected);
          expect(squashed.sent(prefix)).toEqual(expected);
        }
      }),
      { numRuns: 500 },
    );
  });
});
