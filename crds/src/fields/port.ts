import { z } from 'zod';
import { hint } from './hints.js';
import { markIntOrString } from './int-or-string.js';

/** A port or range as a rule states it, parsed. */
export type PortMatch = { kind: 'range'; min: number; max: number } | { kind: 'named'; name: string };

const PORT_EXPECTED = 'a port 0–65535, a range "min:max" such as "8080:8090", or a named port such as "http"';

/**
 * Kubernetes' IANA_SVC_NAME: at most 15 characters of a-z, 0-9 and '-', at
 * least one letter, no leading, trailing or doubled '-'.
 */
export function isPortName(text: string): boolean {
  return text.length <= 15 && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(text) && /[a-z]/.test(text) && !text.includes('--');
}

function isPortNumber(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 65535;
}

/** Parses a rule port (`80`, `"80"`, `"8080:8090"`, `"http"`); null when it is none of them. */
export function parsePortMatch(value: number | string): PortMatch | null {
  if (typeof value === 'number') return isPortNumber(value) ? { kind: 'range', min: value, max: value } : null;
  const range = /^(\d{1,5})(?::(\d{1,5}))?$/.exec(value);
  if (range !== null) {
    const min = Number(range[1]);
    const max = range[2] === undefined ? min : Number(range[2]);
    return isPortNumber(min) && isPortNumber(max) && min <= max ? { kind: 'range', min, max } : null;
  }
  return isPortName(value) ? { kind: 'named', name: value } : null;
}

/** One entry of EntityRule.ports / notPorts. Stored as written; parse with parsePortMatch. */
export const RulePortSchema = hint(
  markIntOrString(
    z
      .union([z.number(), z.string()])
      .superRefine((value, ctx) => {
      if (parsePortMatch(value) !== null) return;
      const range = typeof value === 'string' ? /^(\d+):(\d+)$/.exec(value) : null;
      if (range !== null && Number(range[1]) > Number(range[2])) {
        ctx.addIssue({
          code: 'custom',
          message: `port range "${value}" is upside down; write "${range[2]}:${range[1]}" (min:max)`,
          input: value,
        });
      } else {
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} is not ${PORT_EXPECTED}`, input: value });
      }
      })
      .describe('A port number, a range "min:max" (inclusive), or the name of a named port on the selected endpoints.'),
  ),
  PORT_EXPECTED,
);

export const PROTOCOL_NAMES = ['TCP', 'UDP', 'ICMP', 'ICMPv6', 'SCTP', 'UDPLite'] as const;
export type ProtocolName = (typeof PROTOCOL_NAMES)[number];
const PROTOCOL_NUMBERS: Readonly<Record<ProtocolName, number>> = { TCP: 6, UDP: 17, ICMP: 1, ICMPv6: 58, SCTP: 132, UDPLite: 136 };
const PROTOCOL_EXPECTED = `one of ${PROTOCOL_NAMES.join(', ')}, or an IP protocol number 1–255`;

/** The IP protocol number of a rule protocol (`"TCP"` → 6, `17` → 17). */
export function protocolNumber(protocol: ProtocolName | number): number {
  return typeof protocol === 'number' ? protocol : PROTOCOL_NUMBERS[protocol];
}

/** A rule protocol: a name (exact spelling, as Calico) or a number 1–255. */
export function protocolField(description: string) {
  return hint(
    markIntOrString(
      z
      .union([z.number(), z.string()])
      .transform((value, ctx): ProtocolName | number => {
        if (typeof value === 'number') {
          if (Number.isInteger(value) && value >= 1 && value <= 255) return value;
        } else {
          const name = PROTOCOL_NAMES.find((p) => p === value);
          if (name !== undefined) return name;
          if (/^\d{1,3}$/.test(value) && Number(value) >= 1 && Number(value) <= 255) return Number(value);
          const caseless = PROTOCOL_NAMES.find((p) => p.toLowerCase() === value.toLowerCase());
          if (caseless !== undefined) {
            ctx.addIssue({ code: 'custom', message: `protocol "${value}" is spelled "${caseless}"`, input: value });
            return z.NEVER;
          }
        }
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} is not a protocol; use ${PROTOCOL_EXPECTED}`, input: value });
        return z.NEVER;
      })
      .describe(description),
    ),
    PROTOCOL_EXPECTED,
  );
}

/** A single port number 1–65535 (named-port definitions, failsafe ports). */
export function portNumberField(description: string, min = 1) {
  return hint(z.int().min(min).max(65535).describe(description), `a port number ${min}–65535`);
}
