/** MULTI_EXIT_DISC (RFC 4271 §5.1.4). Malformed → treat-as-withdraw (RFC 7606 §7.4). */
import { UpdateMessageErrorSubcode } from '../notification.js';
import { AttrCode, malformed, ok, OPTIONAL_NON_TRANSITIVE, u32At, type AttributeDescriptor } from './descriptor.js';

export const MULTI_EXIT_DISC: AttributeDescriptor<'multiExitDisc'> = {
  code: AttrCode.MULTI_EXIT_DISC,
  name: 'MULTI_EXIT_DISC',
  flags: OPTIONAL_NON_TRANSITIVE,
  key: 'multiExitDisc',
  onMalformed: 'treat-as-withdraw',
  onFlagsError: 'treat-as-withdraw',
  malformedSubcode: UpdateMessageErrorSubcode.AttributeLengthError,
  decode(value) {
    return value.length === 4 ? ok(u32At(value, 0)) : malformed(`length ${value.length}, expected 4`);
  },
  encode(w, value) {
    w.u32(value);
  },
};
