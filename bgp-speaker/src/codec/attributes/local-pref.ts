/**
 * LOCAL_PREF (RFC 4271 §5.1.5). Malformed → treat-as-withdraw; from an
 * external peer → attribute-discard (RFC 7606 §7.5).
 */
import { UpdateMessageErrorSubcode } from '../notification.js';
import { AttrCode, malformed, ok, u32At, WELL_KNOWN_TRANSITIVE, type AttributeDescriptor } from './descriptor.js';

export const LOCAL_PREF: AttributeDescriptor<'localPref'> = {
  code: AttrCode.LOCAL_PREF,
  name: 'LOCAL_PREF',
  flags: WELL_KNOWN_TRANSITIVE,
  key: 'localPref',
  onMalformed: 'treat-as-withdraw',
  onFlagsError: 'treat-as-withdraw',
  malformedSubcode: UpdateMessageErrorSubcode.AttributeLengthError,
  decode(value) {
    return value.length === 4 ? ok(u32At(value, 0)) : malformed(`length ${value.length}, expected 4`);
  },
  encode(w, value) {
    w.u32(value);
  },
  isUnwelcome(ctx) {
    return ctx.isExternalPeer === true ? 'LOCAL_PREF from an external peer' : null;
  },
};
