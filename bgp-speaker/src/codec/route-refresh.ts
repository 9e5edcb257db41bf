/** ROUTE-REFRESH (RFC 2918 §3; Message Subtype by RFC 7313 §3). */
import { ByteWriter } from './writer.js';

export const RouteRefreshSubtype = {
  /** A plain request (RFC 2918). */
  Normal: 0,
  /** Beginning of Route Refresh (RFC 7313). */
  BoRR: 1,
  /** End of Route Refresh (RFC 7313). */
  EoRR: 2,
} as const;

export interface RouteRefresh {
  readonly afi: number;
  readonly safi: number;
  /** RFC 7313 §5: a subtype other than 0–2 is to be ignored by the receiver, so it is kept, not rejected. */
  readonly subtype: number;
}

export function encodeRouteRefreshBody(rr: RouteRefresh): Uint8Array {
  return new ByteWriter(4).u16(rr.afi).u8(rr.subtype).u8(rr.safi).finish();
}

/** The header check guarantees exactly 4 bytes. */
export function decodeRouteRefreshBody(body: Uint8Array): RouteRefresh {
  return {
    afi: ((body[0] as number) << 8) | (body[1] as number),
    subtype: body[2] as number,
    safi: body[3] as number,
  };
}
