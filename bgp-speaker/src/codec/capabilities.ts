/**
 * OPEN capabilities (RFC 5492): multiprotocol (4760), route refresh (2918),
 * enhanced route refresh (7313), graceful restart (4724), 4-octet AS (6793),
 * extended message (8654). Unknown capabilities are kept as raw bytes and
 * re-encoded unchanged.
 */
import { ByteReader } from './reader.js';
import type { ByteWriter } from './writer.js';

export const CapabilityCode = {
  Multiprotocol: 1,
  RouteRefresh: 2,
  ExtendedMessage: 6,
  GracefulRestart: 64,
  FourOctetAs: 65,
  EnhancedRouteRefresh: 70,
} as const;

export interface AfiSafi {
  readonly afi: number;
  readonly safi: number;
}

export interface GracefulRestartFamily extends AfiSafi {
  /** F bit: forwarding state was preserved across the restart. */
  readonly isForwardingPreserved: boolean;
}

export type Capability =
  | { readonly type: 'multiprotocol'; readonly afi: number; readonly safi: number }
  | { readonly type: 'route-refresh' }
  | { readonly type: 'enhanced-route-refresh' }
  | { readonly type: 'extended-message' }
  | { readonly type: 'four-octet-as'; readonly asn: number }
  | {
      readonly type: 'graceful-restart';
      /** R bit: the sender has restarted (RFC 4724 §3). */
      readonly isRestarting: boolean;
      /** N bit: graceful restart also covers NOTIFICATIONs (RFC 8538). */
      readonly hasNotificationSupport: boolean;
      /** 12 bits, seconds. */
      readonly restartTimeSec: number;
      readonly families: readonly GracefulRestartFamily[];
    }
  | { readonly type: 'unknown'; readonly code: number; readonly value: Uint8Array };

/** Why a capability's value is malformed (caller sends OPEN Message Error / Unspecific). */
export class CapabilityError extends Error {
  override readonly name = 'CapabilityError';
}

function expectLength(code: number, value: Uint8Array, n: number): void {
  if (value.length !== n) throw new CapabilityError(`capability ${code} has length ${value.length}, expected ${n}`);
}

/** Decodes one capability's value. Throws CapabilityError (caught by decodeOpen). */
export function decodeCapability(code: number, value: Uint8Array): Capability {
  const r = new ByteReader(value);
  switch (code) {
    case CapabilityCode.Multiprotocol: {
      expectLength(code, value, 4);
      const afi = r.u16();
      r.u8(); // reserved
      return { type: 'multiprotocol', afi, safi: r.u8() };
    }
    case CapabilityCode.RouteRefresh:
      expectLength(code, value, 0);
      return { type: 'route-refresh' };
    case CapabilityCode.EnhancedRouteRefresh:
      expectLength(code, value, 0);
      return { type: 'enhanced-route-refresh' };
    case CapabilityCode.ExtendedMessage:
      expectLength(code, value, 0);
      return { type: 'extended-message' };
    case CapabilityCode.FourOctetAs:
      expectLength(code, value, 4);
      return { type: 'four-octet-as', asn: r.u32() };
    case CapabilityCode.GracefulRestart: {
      if (value.length < 2 || (value.length - 2) % 4 !== 0) {
        throw new CapabilityError(`graceful restart capability has length ${value.length}, expected 2 + 4n`);
      }
      const word = r.u16();
      const families: GracefulRestartFamily[] = [];
      while (!r.isAtEnd) {
        const afi = r.u16();
        const safi = r.u8();
        families.push({ afi, safi, isForwardingPreserved: (r.u8() & 0x80) !== 0 });
      }
      return {
        type: 'graceful-restart',
        isRestarting: (word & 0x8000) !== 0,
        hasNotificationSupport: (word & 0x4000) !== 0,
        restartTimeSec: word & 0x0fff,
        families,
      };
    }
    default:
      return { type: 'unknown', code, value: value.slice() };
  }
}

export function capabilityCode(c: Capability): number {
  switch (c.type) {
    case 'multiprotocol':
      return CapabilityCode.Multiprotocol;
    case 'route-refresh':
      return CapabilityCode.RouteRefresh;
    case 'enhanced-route-refresh':
      return CapabilityCode.EnhancedRouteRefresh;
    case 'extended-message':
      return CapabilityCode.ExtendedMessage;
    case 'four-octet-as':
      return CapabilityCode.FourOctetAs;
    case 'graceful-restart':
      return CapabilityCode.GracefulRestart;
    case 'unknown':
      return c.code;
  }
}

/** Writes code, length and value of one capability. */
export function encodeCapability(w: ByteWriter, c: Capability): void {
  w.u8(capabilityCode(c));
  const lenAt = w.reserveU8();
  const start = w.length;
  switch (c.type) {
    case 'multiprotocol':
      w.u16(c.afi).u8(0).u8(c.safi);
      break;
    case 'route-refresh':
    case 'enhanced-route-refresh':
    case 'extended-message':
      break;
    case 'four-octet-as':
      w.u32(c.asn);
      break;
    case 'graceful-restart':
      w.u16((c.isRestarting ? 0x8000 : 0) | (c.hasNotificationSupport ? 0x4000 : 0) | (c.restartTimeSec & 0x0fff));
      for (const f of c.families) w.u16(f.afi).u8(f.safi).u8(f.isForwardingPreserved ? 0x80 : 0);
      break;
    case 'unknown':
      w.bytes(c.value);
      break;
  }
  const len = w.length - start;
  if (len > 255) throw new RangeError(`capability ${capabilityCode(c)} value of ${len} bytes exceeds 255`);
  w.patchU8(lenAt, len);
}

/** The 4-octet ASN a peer announced (RFC 6793), or null. */
export function findFourOctetAs(caps: readonly Capability[]): number | null {
  for (const c of caps) if (c.type === 'four-octet-as') return c.asn;
  return null;
}

/** The address families a peer announced with the multiprotocol capability. */
export function multiprotocolFamilies(caps: readonly Capability[]): AfiSafi[] {
  const out: AfiSafi[] = [];
  for (const c of caps) if (c.type === 'multiprotocol') out.push({ afi: c.afi, safi: c.safi });
  return out;
}
