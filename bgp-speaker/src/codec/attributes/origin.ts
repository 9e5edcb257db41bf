/** ORIGIN (RFC 4271 §5.1.1). Malformed → treat-as-withdraw (RFC 7606 §7.1). */
import { UpdateMessageErrorSubcode } from '../notification.js';
import { AttrCode, malformed, ok, WELL_KNOWN_TRANSITIVE, type AttributeDescriptor, type Origin } from './descriptor.js';

const ORIGINS: readonly Origin[] = ['IGP', 'EGP', 'INCOMPLETE'];

export const ORIGIN: AttributeDescriptor<'origin'> = {
  code: AttrCode.ORIGIN,
  name: 'ORIGIN',
  flags: WELL_KNOWN_TRANSITIVE,
  key: 'origin',
  onMalformed: 'treat-as-withdraw',
  onFlagsError: 'treat-as-withdraw',
  malformedSubcode: UpdateMessageErrorSubcode.InvalidOriginAttribute,
  decode(value) {
    if (value.length !== 1) return malformed(`length ${value.length}, expected 1`, { subcode: UpdateMessageErrorSubcode.AttributeLengthError });
    const origin = ORIGINS[value[0] as number];
    return origin === undefined ? malformed(`undefined ORIGIN value ${value[0]}`) : ok(origin);
  },
  encode(w, value) {
    w.u8(ORIGINS.indexOf(value));
  },
};
