import { z } from 'zod';
import { formatCidr, parseCidr, parseIp } from '../../../lib/cidr.js';
import { hint } from './hints.js';

const CIDR_EXAMPLE = 'a CIDR such as 10.244.0.0/16 or fd00:10:244::/64';
const IP_EXAMPLE = 'an IP address such as 192.0.2.1 or 2001:db8::1';

/** The network address of `text` with host bits cleared, as text (`10.0.0.1/16` → `10.0.0.0/16`). */
export function networkOf(text: string): string | null {
  const parsed = parseCidr(text);
  return parsed === null ? null : formatCidr(parsed);
}

/** 4 or 6 for a CIDR or a bare address, null when it is neither. */
export function familyOf(text: string): 4 | 6 | null {
  const cidr = parseCidr(text);
  if (cidr !== null) return cidr.family;
  const ip = parseIp(text);
  return ip === null ? null : ip.family;
}

/**
 * A network in CIDR form whose host bits must be zero: an IPPool's or a
 * block's range. `10.0.0.1/16` is refused with the network it probably meant.
 */
export function networkCidrField(description: string) {
  return hint(
    z
      .string()
      .superRefine((text, ctx) => {
        const parsed = parseCidr(text);
        if (parsed === null) {
          ctx.addIssue({
            code: 'custom',
            message: `${JSON.stringify(text)} is not a CIDR; write ${CIDR_EXAMPLE}`,
            input: text,
          });
        } else if (parsed.hostBitsSet) {
          ctx.addIssue({
            code: 'custom',
            message: `${text} is a host address, not a network; the network is ${networkOf(text) ?? '?'}`,
            input: text,
          });
        }
      })
      .describe(description),
    CIDR_EXAMPLE,
  );
}

/**
 * A net in a rule or a network set: a CIDR or a bare address (meaning /32 or
 * /128). Host bits are allowed and ignored, as Calico does.
 */
export function netField(description: string) {
  return hint(
    z
      .string()
      .superRefine((text, ctx) => {
        if (parseCidr(text) === null && parseIp(text) === null) {
          ctx.addIssue({
            code: 'custom',
            message: `${JSON.stringify(text)} is neither a CIDR nor an IP address; write ${CIDR_EXAMPLE}, or a single address`,
            input: text,
          });
        }
      })
      .describe(description),
    `${CIDR_EXAMPLE}, or a single address`,
  );
}

/** A single IP address, optionally of one family. */
export function ipField(description: string, family?: 4 | 6) {
  const expected = family === 4 ? 'an IPv4 address such as 192.0.2.1' : family === 6 ? 'an IPv6 address such as 2001:db8::1' : IP_EXAMPLE;
  return hint(
    z
      .string()
      .superRefine((text, ctx) => {
        const ip = parseIp(text);
        if (ip === null || (family !== undefined && ip.family !== family)) {
          ctx.addIssue({ code: 'custom', message: `${JSON.stringify(text)} is not ${expected}`, input: text });
        }
      })
      .describe(description),
    expected,
  );
}

/**
 * An interface address with its subnet, as a node's BGP address is written:
 * `192.0.2.10/24` (host bits expected) or a bare address.
 */
export function interfaceAddressField(description: string, family: 4 | 6) {
  const expected = family === 4 ? 'an IPv4 address with its prefix length, such as 192.0.2.10/24' : 'an IPv6 address with its prefix length, such as 2001:db8::10/64';
  return hint(
    z
      .string()
      .superRefine((text, ctx) => {
        if (familyOf(text) !== family) {
          ctx.addIssue({ code: 'custom', message: `${JSON.stringify(text)} is not ${expected}`, input: text });
        }
      })
      .describe(description),
    expected,
  );
}

/**
 * `<IPv4>`, `<IPv4>:<port>`, `<IPv6>` or `[<IPv6>]:<port>`, as BGPPeer.peerIP.
 * Returns null when the text is none of those.
 */
export function parseIpWithPort(text: string): { ip: string; family: 4 | 6; port: number | undefined } | null {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed !== null) {
    const ip = parseIp(bracketed[1] ?? '');
    if (ip === null || ip.family !== 6) return null;
    return withPort(bracketed[1] ?? '', 6, bracketed[2]);
  }
  const direct = parseIp(text);
  if (direct !== null) return { ip: text, family: direct.family, port: undefined };
  const v4Port = /^([0-9.]+):(\d{1,5})$/.exec(text);
  if (v4Port !== null) {
    const ip = parseIp(v4Port[1] ?? '');
    if (ip === null || ip.family !== 4) return null;
    return withPort(v4Port[1] ?? '', 4, v4Port[2]);
  }
  return null;
}

function withPort(ip: string, family: 4 | 6, portText: string | undefined) {
  if (portText === undefined) return { ip, family, port: undefined };
  const port = Number(portText);
  if (port < 1 || port > 65535) return null;
  return { ip, family, port };
}

export function ipWithPortField(description: string) {
  const expected = 'an IP address, optionally with a port: 192.0.2.1, 192.0.2.1:1179, 2001:db8::1 or [2001:db8::1]:1179';
  return hint(
    z
      .string()
      .superRefine((text, ctx) => {
        if (parseIpWithPort(text) === null) {
          ctx.addIssue({ code: 'custom', message: `${JSON.stringify(text)} is not ${expected}`, input: text });
        }
      })
      .describe(description),
    expected,
  );
}
