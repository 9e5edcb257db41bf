import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { codecContext } from './context.js';
import { readHexFixture } from './fixtures/read-hex.js';
import { decodeMessage } from './message.js';

const dir = new URL('./fixtures/malformed/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.hex')).sort();

function contextFor(spec: string | undefined) {
  const words = new Set((spec ?? '').split(/[\s,]+/).filter(Boolean));
  return codecContext({ hasFourOctetAs: words.has('four-octet-as'), isExternalPeer: words.has('external') ? true : undefined });
}

describe('malformed message corpus', () => {
  it('finds its fixtures', () => {
    expect(files.length).toBeGreaterThanOrEqual(40);
  });

  it.each(files)('%s gets the RFC treatment', (file) => {
    const { bytes, meta } = readHexFixture(new URL(file, dir));
    const expectText = meta['expect'];
    expect(expectText, `${file} has no "#! expect:" line`).toBeDefined();
    const [outcome, codes] = (expectText as string).split(/\s+/);
    const [code, subcode] = (codes ?? '').split('/').map(Number);
    const decoded = decodeMessage(bytes, contextFor(meta['ctx']));
    if (outcome === 'notification') {
      expect(decoded.ok).toBe(false);
      if (decoded.ok) return;
      expect(decoded.error.code).toBe('ERR_BGP_MESSAGE');
      expect([decoded.error.errorCode, decoded.error.errorSubcode]).toEqual([code, subcode]);
      return;
    }
    expect(decoded.ok, decoded.ok ? '' : decoded.error.message).toBe(true);
    if (!decoded.ok) return;
    if (outcome === 'none') {
      expect(decoded.errorAction).toBeNull();
      return;
    }
    expect(decoded.errorAction?.action).toBe(outcome);
    if (codes !== undefined) expect([decoded.errorAction?.notification.errorCode, decoded.errorAction?.notification.errorSubcode]).toEqual([code, subcode]);
    if (outcome === 'treat-as-withdraw' && decoded.message.type === 'UPDATE') {
      // Every prefix the UPDATE announced is now a withdrawal, and no attributes survive.
      expect(decoded.message.update.nlri).toEqual([]);
      expect(decoded.message.update.withdrawn.length).toBeGreaterThan(0);
      expect(Object.keys(decoded.message.update.attributes)).toEqual([]);
    }
  });

  it('an unknown optional transitive attribute is kept with the Partial bit set', () => {
    const { bytes } = readHexFixture(new URL('update-unknown-optional-transitive.hex', dir));
    const decoded = decodeMessage(bytes, codecContext());
    expect(decoded.ok && decoded.message.type === 'UPDATE' && decoded.message.update.attributes.unknown).toEqual([
      { code: 99, flags: 0xe0, value: Uint8Array.of(0xab, 0xcd) },
    ]);
  });

  it('an unknown optional non-transitive attribute is dropped', () => {
    const { bytes } = readHexFixture(new URL('update-unknown-optional-non-transitive.hex', dir));
    const decoded = decodeMessage(bytes, codecContext());
    expect(decoded.ok && decoded.message.type === 'UPDATE' && decoded.message.update.attributes.unknown).toBeUndefined();
  });

  it('a duplicate attribute keeps the first copy', () => {
    const { bytes } = readHexFixture(new URL('update-duplicate-origin.hex', dir));
    const decoded = decodeMessage(bytes, codecContext());
    expect(decoded.ok && decoded.message.type === 'UPDATE' && decoded.message.update.attributes.origin).toBe('IGP');
  });

  it('OPEN with an unsupported version names version 4 in the data', () => {
    const { bytes } = readHexFixture(new URL('open-version-3.hex', dir));
    const decoded = decodeMessage(bytes, codecContext());
    expect(!decoded.ok && decoded.error.data).toEqual(Uint8Array.of(0, 4));
  });

  it('an unrecognized well-known attribute is sent back in the NOTIFICATION data', () => {
    const { bytes } = readHexFixture(new URL('update-unknown-well-known.hex', dir));
    const decoded = decodeMessage(bytes, codecContext());
    expect(!decoded.ok && decoded.error.data).toEqual(Uint8Array.of(0x40, 0x63, 0x01, 0x00));
  });
});
