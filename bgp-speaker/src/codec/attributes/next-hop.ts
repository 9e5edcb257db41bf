/** NEXT_HOP (RFC 4271 §5.1.3). Malformed → treat-as-withdraw (RFC 7606 §7.3). */
import { formatIPv4, parseIPv4 } from '../address.js';
import { UpdateMessageErrorSubcode } from '../notification.js';
import { AttrCode, malformed, ok, WELL_KNOWN_TRANSITIVE, type AttributeDescriptor } from './descriptor.js';

export const NEXT_HOP: AttributeDescriptor<'nextHop'> = {
  code: AttrCode.NEXT_HOP,
  name: 'NEXT_HOP',
  flags: WELL_KNOWN_TRANSITIVE,
  key: 'nextHop',
  onMalformed: 'treat-as-withdraw',
  onFlagsError: 'treat-as-withdraw',
  malformedSubcode: UpdateMessageErrorSubcode.AttributeLengthError,
  decode(value) {
    return value.length === 4 ? ok(formatIPv4(value)) : malformed(`length ${value.length}, expected 4`);
  },
  encode(w, value) {
    const b = parseIPv4(value);
    if (b === null) throw new TypeError(`NEXT_HOP is not an IPv4 address: ${JSON.stringify(value)}`);
    w.bytes(b);
  },
};
