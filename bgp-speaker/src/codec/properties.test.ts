import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIPv4, formatIPv6 } from './address.js';
import type { AsPathSegment, PathAttributes, UnknownAttribute } from './attributes/descriptor.js';
import type { Capability } from './capabilities.js';
import { codecContext, type CodecContext } from './context.js';
import { BgpMessageError } from './errors.js';
import { MessageFramer } from './framer.js';
import { decodeMessage, encodeMessage, type BgpMessage } from './message.js';
import type { Open } from './open.js';
import type { Update } from './update.js';

const FUZZ_RUNS = 25_000;

// --- arbitraries -------------------------------------------------------------

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => formatIPv4(b));
const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatIPv6(b));

function masked(bytes: Uint8Array, length: number): Uint8Array {
  const out = bytes.slice();
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, length - 8 * i));
    out[i] = (out[i] as number) & (0xff << (8 - keep)) & 0xff;
  }
  return out;
}
const ipv4Prefix = fc
  .tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 32 }))
  .map(([b, l]) => `${formatIPv4(masked(b, l))}/${l}`);
const ipv6Prefix = fc
  .tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 128 }))
  .map(([b, l]) => `${formatIPv6(masked(b, l))}/${l}`);

const segment = (types: AsPathSegment['type'][], asn: fc.Arbitrary<number>): fc.Arbitrary<AsPathSegment> =>
  fc.record({ type: fc.constantFrom(...types), asns: fc.array(asn, { minLength: 1, maxLength: 8 }) });

/** Confederation segments only at the front (RFC 5065 §5.3), with 2-octet member ASNs over 2-octet sessions. */
const asPath = (ctx: CodecContext): fc.Arbitrary<AsPathSegment[]> =>
  fc
    .tuple(
      fc.array(segment(['AS_CONFED_SEQUENCE', 'AS_CONFED_SET'], ctx.hasFourOctetAs ? u32 : u16), { maxLength: 1 }),
      fc.array(segment(['AS_SEQUENCE', 'AS_SET'], u32), { maxLength: 4 }),
    )
    .map(([confed, rest]) => [...confed, ...rest]);

const KNOWN_CODES = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 17, 18, 32]);
const unknownAttributes: fc.Arbitrary<UnknownAttribute[]> = fc.uniqueArray(
  fc.record({
    code: fc.integer({ min: 11, max: 255 }).filter((c) => !KNOWN_CODES.has(c)),
    flags: fc.constant(0xe0),
    value: fc.uint8Array({ maxLength: 300 }),
  }),
  { maxLength: 3, selector: (u) => u.code },
);

const family = fc.constantFrom(1, 2);
const mpReach = family.chain((afi) =>
  fc.record({
    afi: fc.constant(afi),
    safi: fc.constant(1),
    nextHops: afi === 1 ? ipv4.map((a) => [a]) : fc.array(ipv6, { minLength: 1, maxLength: 2 }),
    nlri: fc.array(afi === 1 ? ipv4Prefix : ipv6Prefix, { maxLength: 40 }),
  }),
);
const mpUnreach = family.chain((afi) =>
  fc.record({ afi: fc.constant(afi), safi: fc.constant(1), withdrawn: fc.array(afi === 1 ? ipv4Prefix : ipv6Prefix, { maxLength: 40 }) }),
);

const attributes = (ctx: CodecContext): fc.Arbitrary<PathAttributes> =>
  fc.record(
    {
      origin: fc.constantFrom('IGP' as const, 'EGP' as const, 'INCOMPLETE' as const),
      asPath: asPath(ctx),
      nextHop: ipv4,
      multiExitDisc: u32,
      localPref: u32,
      atomicAggregate: fc.constant(true as const),
      aggregator: fc.record({ asn: u32, address: ipv4 }),
      communities: fc.array(u32, { minLength: 1, maxLength: 6 }),
      originatorId: ipv4,
      clusterList: fc.array(ipv4, { minLength: 1, maxLength: 4 }),
      mpReachNlri: mpReach,
      mpUnreachNlri: mpUnreach,
      largeCommunities: fc.array(fc.record({ globalAdministrator: u32, localData1: u32, localData2: u32 }), { minLength: 1, maxLength: 4 }),
      unknown: unknownAttributes.filter((u) => u.length > 0),
    },
    { requiredKeys: [] },
  );

/** Valid UPDATEs: announcing needs ORIGIN and AS_PATH (and NEXT_HOP for IPv4 NLRI), RFC 4271 §5 / RFC 4760 §3. */
const update = (ctx: CodecContext): fc.Arbitrary<Update> =>
  fc
    .record({
      withdrawn: fc.array(ipv4Prefix, { maxLength: 40 }),
      attributes: attributes(ctx),
      nlri: fc.array(ipv4Prefix, { maxLength: 40 }),
      origin: fc.constantFrom('IGP' as const, 'INCOMPLETE' as const),
      nextHop: ipv4,
      partialMask: fc.nat(7),
    })
    .map(({ withdrawn, attributes: a, nlri, origin, nextHop, partialMask }) => {
      const attrs: PathAttributes = { ...a };
      if (nlri.length > 0 || attrs.mpReachNlri !== undefined) {
        attrs.origin ??= origin;
        attrs.asPath ??= [];
      }
      if (nlri.length > 0) attrs.nextHop ??= nextHop;
      // Known optional transitive attributes that arrived partial: AGGREGATOR, COMMUNITIES, LARGE_COMMUNITY.
      const partialCodes = [
        [7, attrs.aggregator, 1],
        [8, attrs.communities, 2],
        [32, attrs.largeCommunities, 4],
      ]
        .filter(([, v, bit]) => v !== undefined && (partialMask & (bit as number)) !== 0)
        .map(([code]) => code as number);
      if (partialCodes.length > 0) attrs.partialCodes = partialCodes;
      return { withdrawn, attributes: attrs, nlri };
    });

const KNOWN_CAPS = new Set([1, 2, 6, 64, 65, 70]);
const capability: fc.Arbitrary<Capability> = fc.oneof(
  fc.record({ type: fc.constant('multiprotocol' as const), afi: u16, safi: fc.integer({ min: 0, max: 255 }) }),
  fc.constant({ type: 'route-refresh' as const }),
  fc.constant({ type: 'enhanced-route-refresh' as const }),
  fc.constant({ type: 'extended-message' as const }),
  fc.record({ type: fc.constant('four-octet-as' as const), asn: u32 }),
  fc.record({
    type: fc.constant('graceful-restart' as const),
    isRestarting: fc.boolean(),
    hasNotificationSupport: fc.boolean(),
    restartTimeSec: fc.integer({ min: 0, max: 4095 }),
    families: fc.array(fc.record({ afi: u16, safi: fc.integer({ min: 0, max: 255 }), isForwardingPreserved: fc.boolean() }), { maxLength: 3 }),
  }),
  fc.record({
    type: fc.constant('unknown' as const),
    code: fc.integer({ min: 0, max: 255 }).filter((c) => !KNOWN_CAPS.has(c)),
    value: fc.uint8Array({ maxLength: 20 }),
  }),
);

const open: fc.Arbitrary<Open> = fc.record({
  version: fc.constant(4),
  myAutonomousSystem: u16,
  holdTimeSec: fc.oneof(fc.constant(0), fc.integer({ min: 3, max: 0xffff })),
  bgpIdentifier: ipv4.filter((id) => id !== '0.0.0.0'),
  capabilities: fc.array(capability, { maxLength: 8 }),
});

const ctxArb = fc
  .record({ hasFourOctetAs: fc.boolean(), hasExtendedMessage: fc.boolean(), isExternalPeer: fc.constantFrom(true, false, undefined) })
  .map((f) => codecContext(f));

const message = (ctx: CodecContext): fc.Arbitrary<BgpMessage> =>
  fc.oneof(
    open.map((o) => ({ type: 'OPEN' as const, open: o })),
    update(ctx).map((u) => ({ type: 'UPDATE' as const, update: u })),
    fc.constant({ type: 'KEEPALIVE' as const }),
    fc
      .record({ errorCode: fc.integer({ min: 1, max: 7 }), errorSubcode: fc.integer({ min: 0, max: 255 }), data: fc.uint8Array({ maxLength: 40 }) })
      .map((n) => ({ type: 'NOTIFICATION' as const, notification: n })),
    fc
      .record({ afi: u16, safi: fc.integer({ min: 0, max: 255 }), subtype: fc.integer({ min: 0, max: 255 }) })
      .map((r) => ({ type: 'ROUTE_REFRESH' as const, routeRefresh: r })),
  );

// --- properties --------------------------------------------------------------

function assertNeverThrows(bytes: Uint8Array, ctx: CodecContext): void {
  const d = decodeMessage(bytes, ctx);
  if (!d.ok) expect(d.error).toBeInstanceOf(BgpMessageError);
  else if (d.errorAction !== null) expect(['attribute-discard', 'treat-as-withdraw']).toContain(d.errorAction.action);
}

describe('codec properties', () => {
  it('decode(encode(OPEN)) is the OPEN', () => {
    fc.assert(
      fc.property(open, (o) => {
        expect(decodeMessage(encodeMessage({ type: 'OPEN', open: o }, codecContext()), codecContext())).toEqual({ ok: true, message: { type: 'OPEN', open: o }, errorAction: null });
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    ['2-octet', codecContext({ hasFourOctetAs: false })],
    ['4-octet', codecContext({ hasFourOctetAs: true })],
  ])('decode(encode(UPDATE)) is the UPDATE between %s speakers', (_name, ctx) => {
    fc.assert(
      fc.property(update(ctx), (u) => {
        expect(decodeMessage(encodeMessage({ type: 'UPDATE', update: u }, ctx), ctx)).toEqual({ ok: true, message: { type: 'UPDATE', update: u }, errorAction: null });
      }),
      { numRuns: 2000 },
    );
  });

  it('arbitrary bytes only ever give a message or a BgpMessageError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), ctxArb, (bytes, ctx) => assertNeverThrows(bytes, ctx)),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('arbitrary bodies behind a valid header only ever give a message, an RFC 7606 action or a BgpMessageError', () => {
    const framed = fc.tuple(fc.integer({ min: 1, max: 5 }), fc.uint8Array({ maxLength: 300 })).map(([type, body]) => {
      const out = new Uint8Array(19 + body.length);
      out.fill(0xff, 0, 16);
      out[16] = out.length >> 8;
      out[17] = out.length & 0xff;
      out[18] = type;
      out.set(body, 19);
      return out;
    });
    fc.assert(
      fc.property(framed, ctxArb, (bytes, ctx) => assertNeverThrows(bytes, ctx)),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('valid messages with bytes flipped only ever give a message, an action or a BgpMessageError', () => {
    const mutated = ctxArb.chain((ctx) =>
      fc.tuple(
        fc.constant(ctx),
        message(ctx).map((m) => encodeMessage(m, ctx)),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
      ),
    );
    fc.assert(
      fc.property(mutated, ([ctx, bytes, flips]) => {
        const b = bytes.slice();
        for (const [at, v] of flips) b[19 + (at % Math.max(1, b.length - 19))] = v;
        assertNeverThrows(b, ctx);
      }),
      { numRuns: 10_000 },
    );
  });

  it('the framer yields the same messages whatever offsets the stream is split at', () => {
    const ctx = codecContext({ hasFourOctetAs: true });
    fc.assert(
      fc.property(fc.array(message(ctx), { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 10 }), (messages, cuts) => {
        const encoded = messages.map((m) => encodeMessage(m, ctx));
        const stream = new Uint8Array(encoded.reduce((n, e) => n + e.length, 0));
        let at = 0;
        for (const e of encoded) {
          stream.set(e, at);
          at += e.length;
        }
        const offsets = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const framer = new MessageFramer();
        const frames: Uint8Array[] = [];
        let prev = 0;
        for (const off of [...offsets, stream.length]) {
          const out = framer.push(stream.slice(prev, off));
          expect(out.error).toBeNull();
          frames.push(...out.frames);
          prev = off;
        }
        expect(frames).toEqual(encoded);
        expect(framer.bufferedBytes).toBe(0);
        expect(frames.map((f) => decodeMessage(f, ctx))).toEqual(messages.map((m) => ({ ok: true, message: m, errorAction: null })));
      }),
      { numRuns: 1000 },
    );
  });

  it('the framer never throws on arbitrary bytes and stays broken after a bad header', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 5 }), (chunks) => {
        const framer = new MessageFramer();
        let error: BgpMessageError | null = null;
        for (const c of chunks) {
          const out = framer.push(c);
          if (error !== null) expect(out).toEqual({ frames: [], error });
          error = out.error;
        }
      }),
      { numRuns: 5000 },
    );
  });
});
