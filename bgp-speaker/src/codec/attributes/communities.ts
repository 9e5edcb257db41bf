/**
 * COMMUNITIES (RFC 1997) and LARGE_COMMUNITY (RFC 8092). A length that is not
 * a non-zero multiple of 4 (12) → treat-as-withdraw (RFC 7606 §7.8, RFC 8092 §6).
 */
import { UpdateMessageErrorSubcode } from '../notification.js';
import { AttrCode, malformed, ok, OPTIONAL_TRANSITIVE, u32At, type AttributeDescriptor, type LargeCommunity } from './descriptor.js';

export const COMMUNITIES: AttributeDescriptor<'communities'> = {
  code: AttrCode.COMMUNITIES,
  name: 'COMMUNITIES',
  flags: OPTIONAL_TRANSITIVE,
  key: 'communities',
  onMalformed: 'treat-as-withdraw',
  onFlagsError: 'treat-as-withdraw',
  malformedSubcode: UpdateMessageErrorSubcode.OptionalAttributeError,
  decode(value) {
    if (value.length === 0 || value.length % 4 !== 0) return malformed(`length ${value.length} is not a non-zero multiple of 4`);
    const out: number[] = [];
    for (let p = 0; p < value.length; p += 4) out.push(u32At(value, p));
    return ok(out);
  },
  encode(w, value) {
    for (const c of value) w.u32(c);
  },
};

export const LARGE_COMMUNITY: AttributeDescriptor<'largeCommunities'> = {
  code: AttrCode.LARGE_COMMUNITY,
  name: 'LARGE_COMMUNITY',
  flags: OPTIONAL_TRANSITIVE,
  key: 'largeCommunities',
  onMalformed: 'treat-as-withdraw',
  onFlagsError: 'treat-as-withdraw',
  malformedSubcode: UpdateMessageErrorSubcode.OptionalAttributeError,
  decode(value) {
    if (value.length === 0 || value.length % 12 !== 0) return malformed(`length ${value.length} is not a non-zero multiple of 12`);
    const out: LargeCommunity[] = [];
    for (let p = 0; p < value.length; p += 12) {
      out.push({ globalAdministrator: u32At(value, p), localData1: u32At(value, p + 4), localData2: u32At(value, p + 8) });
    }
    return ok(out);
  },
  encode(w, value) {
    for (const c of value) w.u32(c.globalAdministrator).u32(c.localData1).u32(c.localData2);
  },
};
