/**
 * AGGREGATOR (RFC 4271 §5.1.7, 2- or 4-octet ASN by RFC 6793) and
 * AS4_AGGREGATOR (RFC 6793). Malformed → attribute-discard (RFC 7606 §7.7,
 * RFC 6793 §6).
 */
import { formatIPv4, parseIPv4 } from '../address.js';
import { UpdateMessageErrorSubcode } from '../notification.js';
import type { ByteWriter } from '../writer.js';
import { AS_TRANS } from './as-path.js';
import { AttrCode, malformed, ok, OPTIONAL_TRANSITIVE, u32At, type Aggregator, type AttrDecodeResult, type AttributeDescriptor } from './descriptor.js';

function decodeAggregator(value: Uint8Array, asnBytes: 2 | 4): AttrDecodeResult<Aggregator> {
  if (value.length !== asnBytes + 4) return malformed(`length ${value.length}, expected ${asnBytes + 4}`);
  const asn = asnBytes === 4 ? u32At(value, 0) : ((value[0] as number) << 8) | (value[1] as number);
  return ok({ asn, address: formatIPv4(value, asnBytes) });
}

function encodeAggregator(w: ByteWriter, value: Aggregator, asnBytes: 2 | 4): void {
  if (asnBytes === 4) w.u32(value.asn);
  else w.u16(value.asn > 0xffff ? AS_TRANS : value.asn);
  const b = parseIPv4(value.address);
  if (b === null) throw new TypeError(`AGGREGATOR address is not IPv4: ${JSON.stringify(value.address)}`);
  w.bytes(b);
}

export const AGGREGATOR: AttributeDescriptor<'aggregator'> = {
  code: AttrCode.AGGREGATOR,
  name: 'AGGREGATOR',
  flags: OPTIONAL_TRANSITIVE,
  key: 'aggregator',
  onMalformed: 'attribute-discard',
  onFlagsError: 'attribute-discard',
  malformedSubcode: UpdateMessageErrorSubcode.AttributeLengthError,
  decode(value, ctx) {
    return decodeAggregator(value, ctx.hasFourOctetAs ? 4 : 2);
  },
  encode(w, value, ctx) {
    encodeAggregator(w, value, ctx.hasFourOctetAs ? 4 : 2);
  },
};

export const AS4_AGGREGATOR: AttributeDescriptor<'as4Aggregator'> = {
  code: AttrCode.AS4_AGGREGATOR,
  name: 'AS4_AGGREGATOR',
  flags: OPTIONAL_TRANSITIVE,
  key: 'as4Aggregator',
  onMalformed: 'attribute-discard',
  onFlagsError: 'attribute-discard',
  malformedSubcode: UpdateMessageErrorSubcode.OptionalAttributeError,
  decode(value) {
    return decodeAggregator(value, 4);
  },
  encode(w, value) {
    encodeAggregator(w, value, 4);
  },
  isUnwelcome(ctx) {
    return ctx.hasFourOctetAs ? 'AS4_AGGREGATOR from a 4-octet-AS peer' : null;
  },
};
