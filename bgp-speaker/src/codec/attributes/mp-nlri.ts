/**
 * MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4760) for IPv4 and IPv6 unicast.
 * Their NLRI cannot be located when they are malformed, so RFC 7606 §7.11
 * calls for session reset. An address family we do not speak is discarded
 * (we never advertised it, RFC 4760 §7).
 */
import { AFI_IPV4, AFI_IPV6, formatAddress, PrefixError, readPrefixes, SAFI_UNICAST, writeAddress, writePrefixes } from '../address.js';
import { UpdateMessageErrorSubcode } from '../notification.js';
import { ByteReader, ReadOverrun } from '../reader.js';
import { AttrCode, malformed, ok, OPTIONAL_NON_TRANSITIVE, type AttrDecodeResult, type AttributeDescriptor } from './descriptor.js';

export function isSupportedFamily(afi: number, safi: number): boolean {
  return (afi === AFI_IPV4 || afi === AFI_IPV6) && safi === SAFI_UNICAST;
}

function guard<V>(f: () => AttrDecodeResult<V>): AttrDecodeResult<V> {
  try {
    return f();
  } catch (err) {
    if (err instanceof ReadOverrun || err instanceof PrefixError) return malformed(`NLRI: ${err.message}`, { subcode: UpdateMessageErrorSubcode.OptionalAttributeError });
    throw err;
  }
}

export const MP_REACH_NLRI: AttributeDescriptor<'mpReachNlri'> = {
  code: AttrCode.MP_REACH_NLRI,
  name: 'MP_REACH_NLRI',
  flags: OPTIONAL_NON_TRANSITIVE,
  key: 'mpReachNlri',
  onMalformed: 'session-reset',
  onFlagsError: 'session-reset',
  malformedSubcode: UpdateMessageErrorSubcode.OptionalAttributeError,
  decode(value) {
    return guard(() => {
      const r = new ByteReader(value);
      const afi = r.u16();
      const safi = r.u8();
      if (!isSupportedFamily(afi, safi)) return malformed(`unsupported AFI/SAFI ${afi}/${safi}`, { action: 'attribute-discard' });
      const nhLen = r.u8();
      const nh = r.bytes(nhLen);
      const nextHops: string[] = [];
      if (afi === AFI_IPV4 && nhLen === 4) nextHops.push(formatAddress(afi, nh));
      else if (afi === AFI_IPV6 && (nhLen === 16 || nhLen === 32)) {
        nextHops.push(formatAddress(afi, nh, 0));
        if (nhLen === 32) nextHops.push(formatAddress(afi, nh, 16));
      } else return malformed(`next hop length ${nhLen} for AFI ${afi}`);
      r.u8(); // reserved (RFC 4760 §3: ignored on receipt)
      return ok({ afi, safi, nextHops, nlri: readPrefixes(r, afi) });
    });
  },
  encode(w, value) {
    w.u16(value.afi).u8(value.safi);
    const lenAt = w.reserveU8();
    const start = w.length;
    for (const nh of value.nextHops) writeAddress(w, value.afi, nh);
    w.patchU8(lenAt, w.length - start);
    w.u8(0);
    writePrefixes(w, value.afi, value.nlri);
  },
};

export const MP_UNREACH_NLRI: AttributeDescriptor<'mpUnreachNlri'> = {
  code: AttrCode.MP_UNREACH_NLRI,
  name: 'MP_UNREACH_NLRI',
  flags: OPTIONAL_NON_TRANSITIVE,
  key: 'mpUnreachNlri',
  onMalformed: 'session-reset',
  onFlagsError: 'session-reset',
  malformedSubcode: UpdateMessageErrorSubcode.OptionalAttributeError,
  decode(value) {
    return guard(() => {
      const r = new ByteReader(value);
      const afi = r.u16();
      const safi = r.u8();
      if (!isSupportedFamily(afi, safi)) return malformed(`unsupported AFI/SAFI ${afi}/${safi}`, { action: 'attribute-discard' });
      return ok({ afi, safi, withdrawn: readPrefixes(r, afi) });
    });
  },
  encode(w, value) {
    w.u16(value.afi).u8(value.safi);
    writePrefixes(w, value.afi, value.withdrawn);
  },
};
