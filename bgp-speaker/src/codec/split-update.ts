/**
 * Cuts one logical UPDATE (any number of prefixes) into UPDATEs that each fit
 * the negotiated maximum message size (4096, or 65535 with RFC 8654):
 * IPv4 withdrawals first, then MP_UNREACH_NLRI, then announcements sharing
 * the same path attributes, IPv4 NLRI and MP_REACH_NLRI in their own messages.
 */
import { addressBytes, prefixWireLength } from './address.js';
import type { PathAttributes } from './attributes/descriptor.js';
import type { CodecContext } from './context.js';
import { HEADER_LENGTH, maxMessageLength } from './header.js';
import { encodePathAttributes, type Update } from './update.js';
import { ByteWriter } from './writer.js';

/** Attribute header with extended length: flags, code, 2 length octets. */
const ATTR_HEADER = 4;

function chunk(prefixes: readonly string[], budget: number): string[][] {
  const out: string[][] = [];
  let cur: string[] = [];
  let used = 0;
  for (const p of prefixes) {
    const n = prefixWireLength(p);
    if (used + n > budget && cur.length > 0) {
      out.push(cur);
      cur = [];
      used = 0;
    }
    cur.push(p);
    used += n;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

export function splitUpdate(update: Update, ctx: CodecContext): Update[] {
  // Body budget: everything after the header and the two 2-octet length fields.
  const budget = maxMessageLength(ctx) - HEADER_LENGTH - 4;
  const out: Update[] = [];
  for (const w of chunk(update.withdrawn, budget)) out.push({ withdrawn: w, attributes: {}, nlri: [] });

  const { mpReachNlri: reach, mpUnreachNlri: unreach, ...shared } = update.attributes;
  if (unreach !== undefined) {
    const chunks = chunk(unreach.withdrawn, budget - ATTR_HEADER - 3);
    if (chunks.length === 0) chunks.push([]); // an empty MP_UNREACH_NLRI is an End-of-RIB: keep it
    for (const w of chunks) out.push({ withdrawn: [], attributes: { mpUnreachNlri: { ...unreach, withdrawn: w } }, nlri: [] });
  }

  const w = new ByteWriter(256);
  encodePathAttributes(w, shared, ctx);
  const sharedLength = w.length;
  if (update.nlri.length > 0) {
    for (const n of chunk(update.nlri, budget - sharedLength)) out.push({ withdrawn: [], attributes: shared, nlri: n });
  }
  if (reach !== undefined) {
    const mpOverhead = ATTR_HEADER + 5 + reach.nextHops.length * addressBytes(reach.afi);
    const chunks = chunk(reach.nlri, budget - sharedLength - mpOverhead);
    if (chunks.length === 0) chunks.push([]);
    for (const n of chunks) out.push({ withdrawn: [], attributes: { ...shared, mpReachNlri: { ...reach, nlri: n } }, nlri: [] });
  }
  if (out.length === 0) out.push({ withdrawn: [], attributes: shared, nlri: [] });
  return out;
}
