import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { codecContext } from './context.js';
import { MAX_MESSAGE_LENGTH } from './header.js';
import { decodeMessage, encodeMessage } from './message.js';
import { splitUpdate } from './split-update.js';
import type { Update } from './update.js';

const ctx = codecContext({ hasFourOctetAs: true });
const v4 = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 26, max: 32 })).map(([a, l]) => {
  const masked = l === 0 ? 0 : (a >>> (32 - l)) << (32 - l);
  const m = masked >>> 0;
  return `${m >>> 24}.${(m >>> 16) & 255}.${(m >>> 8) & 255}.${m & 255}/${l}`;
});
const v6 = fc.integer({ min: 1, max: 0xffff }).map((n) => `2001:db8:${n.toString(16)}::/48`);

describe('splitUpdate', () => {
  it('every message fits in 4096 bytes and together they carry every prefix once', () => {
    fc.assert(
      fc.property(fc.array(v4, { maxLength: 3000 }), fc.array(v4, { maxLength: 1500 }), fc.array(v6, { maxLength: 800 }), fc.array(v6, { maxLength: 800 }), (nlri, withdrawn, reach, unreach) => {
        const update: Update = {
          withdrawn,
          nlri,
          attributes: {
            origin: 'IGP',
            asPath: [{ type: 'AS_SEQUENCE', asns: [65001, 65002] }],
            nextHop: '192.0.2.1',
            communities: [1, 2, 3],
            ...(reach.length > 0 ? { mpReachNlri: { afi: 2, safi: 1, nextHops: ['2001:db8::1', 'fe80::1'], nlri: reach } } : {}),
            ...(unreach.length > 0 ? { mpUnreachNlri: { afi: 2, safi: 1, withdrawn: unreach } } : {}),
          },
        };
        const parts = splitUpdate(update, ctx);
        const decoded = parts.map((p) => {
          const bytes = encodeMessage({ type: 'UPDATE', update: p }, ctx);
          expect(bytes.length).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
          const d = decodeMessage(bytes, ctx);
          if (!d.ok || d.message.type !== 'UPDATE') throw new Error('did not decode');
          expect(d.errorAction).toBeNull();
          return d.message.update;
        });
        expect(decoded.flatMap((u) => u.nlri)).toEqual(nlri);
        expect(decoded.flatMap((u) => u.withdrawn)).toEqual(withdrawn);
        expect(decoded.flatMap((u) => u.attributes.mpReachNlri?.nlri ?? [])).toEqual(reach);
        expect(decoded.flatMap((u) => u.attributes.mpUnreachNlri?.withdrawn ?? [])).toEqual(unreach);
      }),
      { numRuns: 50 },
    );
  });

  it('keeps an End-of-RIB marker whole', () => {
    expect(splitUpdate({ withdrawn: [], attributes: { mpUnreachNlri: { afi: 2, safi: 1, withdrawn: [] } }, nlri: [] }, ctx)).toEqual([
      { withdrawn: [], attributes: { mpUnreachNlri: { afi: 2, safi: 1, withdrawn: [] } }, nlri: [] },
    ]);
    expect(splitUpdate({ withdrawn: [], attributes: {}, nlri: [] }, ctx)).toEqual([{ withdrawn: [], attributes: {}, nlri: [] }]);
  });
});
