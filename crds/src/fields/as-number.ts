import { z } from 'zod';
import { hint } from './hints.js';
import { markIntOrString } from './int-or-string.js';

export const AS_NUMBER_MAX = 4294967295;
const EXPECTED = 'an AS number 1–4294967295 (asplain, e.g. 64512) or asdot ("1.10")';

/**
 * Reads an AS number as Calico's numorstring.ASNumber does: an integer
 * (asplain), a string of digits, or asdot `<high>.<low>` with both halves
 * 0–65535 (RFC 5396). Returns null when it is none of those or out of range.
 */
export function parseAsNumber(value: number | string): number | null {
  let asn: number;
  if (typeof value === 'number') {
    asn = value;
  } else if (/^\d+$/.test(value)) {
    asn = Number(value);
  } else {
    const dot = /^(\d{1,5})\.(\d{1,5})$/.exec(value);
    if (dot === null) return null;
    const high = Number(dot[1]);
    const low = Number(dot[2]);
    if (high > 65535 || low > 65535) return null;
    asn = high * 65536 + low;
  }
  return Number.isInteger(asn) && asn >= 1 && asn <= AS_NUMBER_MAX ? asn : null;
}

/** An AS number field; the output is always the asplain integer. */
export function asNumberField(description: string) {
  return hint(
    markIntOrString(
    z
      .union([z.number(), z.string()])
      .transform((value, ctx) => {
        const asn = parseAsNumber(value);
        if (asn === null) {
          ctx.addIssue({
            code: 'custom',
            message: `${JSON.stringify(value)} is not a valid AS number; use ${EXPECTED}`,
            input: value,
          });
          return z.NEVER;
        }
        return asn;
      })
      .describe(description),
    ),
    EXPECTED,
  );
}
