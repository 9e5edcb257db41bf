/**
 * The pure pieces end to end, with real wire bytes between speakers:
 * blocks → Loc-RIB → Adj-RIB-Out → packUpdates → encode → decode →
 * Adj-RIB-In → Loc-RIB → kernel routes. No sockets: what the session layer
 * will do, minus the socket.
 */
import { describe, expect, it } from 'vitest';
import { AFI_IPV4, codecContext, decodeUpdate, encodeUpdate, endOfRib, SAFI_UNICAST } from '../codec/index.js';
import { AdjRibIn } from '../rib/adj-rib-in.js';
import { AdjRibOut, packUpdates, type OutPeer } from '../rib/adj-rib-out.js';
import { LocRib, type LocRibChanges } from '../rib/loc-rib.js';
import type { PeerRef } from '../rib/path.js';
import { BLOCKS_ORIGIN, calculateBlockPaths, type BlockRecord } from '../source/blocks.js';
import { calculateExportPolicy } from '../source/export-policy.js';
import { planKernelRoutes } from './routes.js';

const AS = 64512;
const ctx = codecContext({ hasFourOctetAs: true, isExternalPeer: false });
const pools = [{ cidr: '10.244.0.0/16', ipipMode: 'Never' as const, vxlanMode: 'Never' as const }];
const exportPolicy = calculateExportPolicy(pools);
const block = (cidr: string, node: string): BlockRecord => ({ cidr, affinity: `host:${node}`, allocations: [], attributes: [] });

class Speaker {
  readonly loc = new LocRib();
  readonly ins = new Map<string, AdjRibIn>();
  readonly outs = new Map<string, AdjRibOut>();
  constructor(
    readonly name: string,
    readonly address: string,
    readonly clusterId: string | null = null,
  ) {}
  ref(isClient = false): PeerRef {
    return { address: this.address, asn: AS, routerId: this.address, isInternal: true, isRouteReflectorClient: isClient };
  }
  me() {
    return { localAs: AS, routerId: this.address, clusterId: this.clusterId };
  }
}

/** An iBGP session between a and b; `aReflectsForB`: b is a's route-reflector client. */
function connect(a: Speaker, b: Speaker, aReflectsForB = false, bReflectsForA = false): void {
  const outPeer = (to: Speaker, from: Speaker, isClient: boolean): OutPeer => ({ peer: to.ref(isClient), localAddress: { ipv4: from.address }, afis: [AFI_IPV4], exportPolicy });
  a.outs.set(b.address, new AdjRibOut(outPeer(b, a, aReflectsForB), a.me()));
  b.outs.set(a.address, new AdjRibOut(outPeer(a, b, bReflectsForA), b.me()));
  a.ins.set(b.address, new AdjRibIn(b.ref(aReflectsForB), a.me()));
  b.ins.set(a.address, new AdjRibIn(a.ref(bReflectsForA), b.me()));
}

/** Sends `changes` from `from` to every peer, and lets every change ripple until nothing moves. */
function propagate(speakers: Speaker[], from: Speaker, changes: LocRibChanges): number {
  let messages = 0;
  const queue: [Speaker, LocRibChanges][] = [[from, changes]];
  while (queue.length > 0) {
    const [s, ch] = queue.shift()!;
    for (const [address, out] of s.outs) {
      const target = speakers.find((x) => x.address === address)!;
      for (const update of packUpdates(out.planUpdates(ch), ctx)) {
        messages++;
        const decoded = decodeUpdate(encodeUpdate(update, ctx), ctx);
        const ribIn = target.ins.get(s.address)!;
        const r = ribIn.applyUpdate(decoded);
        const next = target.loc.applyPeer(s.address, r.changed, (p) => ribIn.accepted(p));
        if (next.changed.length > 0) queue.push([target, next]);
      }
    }
  }
  return messages;
}

const kernel = (s: Speaker) =>
  planKernelRoutes(s.loc.bests(), { localBlocks: [], nodeAddress: { ipv4: s.address }, localSubnets: ['192.168.1.0/24'], pools })
    .map((r) => `${r.dst} via ${r.gateway}`)
    .sort();

describe('the RIB pipeline between speakers', () => {
  it('a full mesh: every node routes to every other node’s aggregated blocks, and withdrawals clear them', () => {
    const nodes = [new Speaker('node1', '192.168.1.1'), new Speaker('node2', '192.168.1.2'), new Speaker('node3', '192.168.1.3')];
    for (let i = 0; i < nodes.length; i++) for (let j = i + 1; j < nodes.length; j++) connect(nodes[i]!, nodes[j]!);
    const blocks = [block('10.244.1.0/26', 'node1'), block('10.244.1.64/26', 'node1'), block('10.244.2.0/26', 'node2'), block('10.244.3.0/26', 'node3')];
    for (const n of nodes) propagate(nodes, n, n.loc.setLocal(BLOCKS_ORIGIN, calculateBlockPaths(n.name, blocks, { ipv4: n.address })));
    expect(kernel(nodes[2]!)).toEqual(['10.244.1.0/25 via 192.168.1.1', '10.244.2.0/26 via 192.168.1.2']);
    expect(kernel(nodes[0]!)).toEqual(['10.244.2.0/26 via 192.168.1.2', '10.244.3.0/26 via 192.168.1.3']);
    // iBGP split horizon: node2 did not pass node1's route on to node3, node3 has it from node1 only.
    expect(nodes[2]!.loc.candidates('10.244.1.0/25').map((p) => p.peer?.address)).toEqual(['192.168.1.1']);

    propagate(nodes, nodes[1]!, nodes[1]!.loc.setLocal(BLOCKS_ORIGIN, []));
    expect(kernel(nodes[0]!)).toEqual(['10.244.3.0/26 via 192.168.1.3']);
  });

  it('a route reflector passes client routes on with ORIGINATOR_ID and CLUSTER_LIST, and nothing loops', () => {
    const rr = new Speaker('rr', '192.168.1.100', '192.168.1.100');
    const c1 = new Speaker('node1', '192.168.1.1');
    const c2 = new Speaker('node2', '192.168.1.2');
    connect(rr, c1, true);
    connect(rr, c2, true);
    const all = [rr, c1, c2];
    const blocks = [block('10.244.1.0/26', 'node1'), block('10.244.2.0/26', 'node2')];
    const messages = [c1, c2].reduce((n, s) => n + propagate(all, s, s.loc.setLocal(BLOCKS_ORIGIN, calculateBlockPaths(s.name, blocks, { ipv4: s.address }))), 0);
    expect(kernel(c2)).toEqual(['10.244.1.0/26 via 192.168.1.1']);
    expect(kernel(c1)).toEqual(['10.244.2.0/26 via 192.168.1.2']);
    expect(c2.loc.best('10.244.1.0/26')?.attributes).toMatchObject({ originatorId: '192.168.1.1', clusterList: ['192.168.1.100'] });
    // Each client's route reached the reflector once and the other client once: no echo came back.
    expect(messages).toBe(4);
  });

  it('graceful restart: a restarting peer’s routes stay in the kernel until End-of-RIB sweeps the ones it did not resend', () => {
    const n1 = new Speaker('node1', '192.168.1.1');
    const n2 = new Speaker('node2', '192.168.1.2');
    connect(n1, n2);
    const blocks = [block('10.244.1.0/26', 'node1'), block('10.244.1.128/26', 'node1')];
    propagate([n1, n2], n1, n1.loc.setLocal(BLOCKS_ORIGIN, calculateBlockPaths('node1', blocks, { ipv4: n1.address })));
    expect(kernel(n2)).toHaveLength(2);

    // node1 dies; node2 keeps its paths stale. node1 comes back with one block only.
    const ribIn = n2.ins.get(n1.address)!;
    ribIn.markStale();
    expect(kernel(n2)).toHaveLength(2);
    const n1Again = new Speaker('node1', '192.168.1.1');
    n1Again.outs.set(n2.address, new AdjRibOut({ peer: n2.ref(), localAddress: { ipv4: n1.address }, afis: [AFI_IPV4], exportPolicy }, n1Again.me()));
    n1Again.loc.setLocal(BLOCKS_ORIGIN, calculateBlockPaths('node1', [blocks[0]!], { ipv4: n1.address }));
    const fresh = packUpdates(n1Again.outs.get(n2.address)!.planUpdates(n1Again.loc.snapshot()), ctx);
    for (const u of [...fresh, endOfRib(AFI_IPV4, SAFI_UNICAST)]) {
      const r = ribIn.applyUpdate(decodeUpdate(encodeUpdate(u, ctx), ctx));
      n2.loc.applyPeer(n1.address, r.changed, (p) => ribIn.accepted(p));
    }
    expect(kernel(n2)).toEqual(['10.244.1.0/26 via 192.168.1.1']);
  });
});
