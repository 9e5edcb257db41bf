/**
 * ORIGINATOR_ID and CLUSTER_LIST (RFC 4456 §8). Malformed → treat-as-withdraw;
 * from an external peer → attribute-discard (RFC 7606 §7.9, §7.10).
 */
import { formatIPv4, parseIPv4 } from '../address.js';
import { UpdateMessageErrorSubcode } from '../notification.js';
import type { ByteWriter } from '../writer.js';
import { AttrCode, malformed, ok, OPTIONAL_NON_TRANSITIVE, type AttributeDescriptor } from './descriptor.js';

function writeId(w: ByteWriter, id: string): void {
  const b = parseIPv4(id);
  if (b === null) throw new TypeError(`not a dotted-quad identifier: ${JSON.stringify(id)}`);
  w.bytes(b);
}

export const ORIGINATOR_ID: AttributeDescriptor<'originatorId'> = {
  code: AttrCode.ORIGINATOR_ID,
  name: 'ORIGINATOR_ID',
  flags: OPTIONAL_NON_TRANSITIVE,
  key: 'originatorId',
  onMalformed: 'treat-as-withdraw',
  onFlagsError: 'treat-as-withdraw',
  malformedSubcode: UpdateMessageErrorSubcode.AttributeLengthError,
  decode(value) {
    return value.length === 4 ? ok(formatIPv4(value)) : malformed(`length ${value.length}, expected 4`);
  },
  encode(w, value) {
    writeId(w, value);
  },
  isUnwelcome(ctx) {
    return ctx.isExternalPeer === true ? 'ORIGINATOR_ID from an external peer' : null;
  },
};

export const CLUSTER_LIST: AttributeDescriptor<'clusterList'> = {
  code: AttrCode.CLUSTER_LIST,
  name: 'CLUSTER_LIST',
  flags: OPTIONAL_NON_TRANSITIVE,
  key: 'clusterList',
  onMalformed: 'treat-as-withdraw',
  onFlagsError: 'treat-as-withdraw',
  malformedSubcode: UpdateMessageErrorSubcode.AttributeLengthError,
  decode(value) {
    if (value.length === 0 || value.length % 4 !== 0) return malformed(`length ${value.length} is not a non-zero multiple of 4`);
    const out: string[] = [];
    for (let p = 0; p < value.length; p += 4) out.push(formatIPv4(value, p));
    return ok(out);
  },
  encode(w, value) {
    for (const id of value) writeId(w, id);
  },
  isUnwelcome(ctx) {
    return ctx.isExternalPeer === true ? 'CLUSTER_LIST from an external peer' : null;
  },
};
