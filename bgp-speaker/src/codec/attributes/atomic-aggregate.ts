/** ATOMIC_AGGREGATE (RFC 4271 §5.1.6). Malformed → attribute-discard (RFC 7606 §7.6). */
import { UpdateMessageErrorSubcode } from '../notification.js';
import { AttrCode, malformed, ok, WELL_KNOWN_TRANSITIVE, type AttributeDescriptor } from './descriptor.js';

export const ATOMIC_AGGREGATE: AttributeDescriptor<'atomicAggregate'> = {
  code: AttrCode.ATOMIC_AGGREGATE,
  name: 'ATOMIC_AGGREGATE',
  flags: WELL_KNOWN_TRANSITIVE,
  key: 'atomicAggregate',
  onMalformed: 'attribute-discard',
  onFlagsError: 'attribute-discard',
  malformedSubcode: UpdateMessageErrorSubcode.AttributeLengthError,
  decode(value) {
    return value.length === 0 ? ok(true as const) : malformed(`length ${value.length}, expected 0`);
  },
  encode() {
    // no value
  },
};
