/**
 * UPDATE (RFC 4271 §4.3) with RFC 7606 revised error handling. Decoding never
 * throws on a peer's bytes: problems become an `errorAction` carried beside the
 * update (GoBGP's ErrorHandling), and the update returned is already the one
 * to act on: attributes under attribute-discard are gone, and under
 * treat-as-withdraw every reachable prefix has become a withdrawal.
 */
import { AFI_IPV4, PrefixError, readPrefixes, SAFI_UNICAST, writePrefixes, type Afi } from './address.js';
import { AS_TRANS, mergeAs4Path, isConfedSegment, needsAs4Path } from './attributes/as-path.js';
import {
  AttrCode,
  AttrFlag,
  ERROR_ACTION_RANK,
  type AttributeDescriptor,
  type AttributeKey,
  type ErrorActionKind,
  type PathAttributes,
  type UnknownAttribute,
  type WireAttributes,
} from './attributes/descriptor.js';
import { ATTRIBUTES, attributeDescriptor, attributeName } from './attributes/table.js';
import type { CodecContext } from './context.js';
import { ErrorCode, UpdateMessageErrorSubcode, type Notification } from './notification.js';
import { ByteReader, ReadOverrun } from './reader.js';
import { ByteWriter } from './writer.js';

export interface Update {
  /** IPv4 unicast prefixes withdrawn. */
  readonly withdrawn: readonly string[];
  readonly attributes: PathAttributes;
  /** IPv4 unicast prefixes announced with `attributes`. */
  readonly nlri: readonly string[];
}

/** One problem found in an UPDATE and the RFC 7606 approach it calls for. */
export interface UpdateError {
  readonly action: ErrorActionKind;
  /** RFC name of the attribute, or null for the message structure. */
  readonly attribute: string | null;
  readonly reason: string;
  /** The NOTIFICATION this problem would send under session reset. */
  readonly notification: Notification;
}

/** The strongest action among all problems (RFC 7606 §3: the most severe wins). */
export interface UpdateErrorAction {
  readonly action: ErrorActionKind;
  /** Of the problem that decided the action; for session-reset it is what to send. */
  readonly notification: Notification;
  readonly errors: readonly UpdateError[];
}

export interface DecodedUpdate {
  readonly update: Update;
  readonly errorAction: UpdateErrorAction | null;
}

const EMPTY_UPDATE: Update = Object.freeze({ withdrawn: [], attributes: {}, nlri: [] });

function updateError(action: ErrorActionKind, attribute: string | null, reason: string, subcode: number, data: Uint8Array = new Uint8Array(0)): UpdateError {
  return { action, attribute, reason, notification: { errorCode: ErrorCode.UpdateMessageError, errorSubcode: subcode, data: data.slice() } };
}

function strongest(errors: readonly UpdateError[]): UpdateErrorAction | null {
  let best: UpdateError | undefined;
  for (const e of errors) if (best === undefined || ERROR_ACTION_RANK[e.action] > ERROR_ACTION_RANK[best.action]) best = e;
  return best === undefined ? null : { action: best.action, notification: best.notification, errors };
}

function reset(errors: UpdateError[], e: UpdateError, update: Update = EMPTY_UPDATE): DecodedUpdate {
  errors.push(e);
  return { update, errorAction: strongest(errors) };
}

function setAttr<K extends AttributeKey>(attrs: WireAttributes, key: K, value: WireAttributes[K]): void {
  attrs[key] = value;
}

/** Decodes an UPDATE body (the bytes after the header). Never throws. */
export function decodeUpdateBody(body: Uint8Array, ctx: CodecContext): DecodedUpdate {
  const errors: UpdateError[] = [];
  const structure = (reason: string, subcode: number = UpdateMessageErrorSubcode.MalformedAttributeList): UpdateError =>
    updateError('session-reset', null, reason, subcode);

  if (body.length < 4) return reset(errors, structure(`body of ${body.length} bytes`));
  const withdrawnLength = ((body[0] as number) << 8) | (body[1] as number);
  if (2 + withdrawnLength + 2 > body.length) return reset(errors, structure(`withdrawn routes length ${withdrawnLength} overruns the message`));
  const attrStart = 2 + withdrawnLength + 2;
  const attrLength = ((body[attrStart - 2] as number) << 8) | (body[attrStart - 1] as number);
  const attrEnd = attrStart + attrLength;
  if (attrEnd > body.length) return reset(errors, structure(`total path attribute length ${attrLength} overruns the message`));

  // RFC 7606 §5.3: prefixes that cannot be parsed leave no way to withdraw them: session reset.
  let withdrawn: string[];
  let nlri: string[];
  try {
    withdrawn = readPrefixes(new ByteReader(body, 2, 2 + withdrawnLength), AFI_IPV4);
    nlri = readPrefixes(new ByteReader(body, attrEnd, body.length), AFI_IPV4);
  } catch (err) {
    if (err instanceof ReadOverrun || err instanceof PrefixError) {
      return reset(errors, structure(`IPv4 prefixes: ${err.message}`, UpdateMessageErrorSubcode.InvalidNetworkField));
    }
    throw err;
  }

  const wire: WireAttributes = {};
  const unknown: UnknownAttribute[] = [];
  const partial: number[] = [];
  const seen = new Set<number>();
  let p = attrStart;
  while (p < attrEnd) {
    const flags = body[p] as number;
    const code = body[p + 1];
    const headerLength = flags & AttrFlag.ExtendedLength ? 4 : 3;
    if (code === undefined || p + headerLength > attrEnd) {
      // RFC 7606 §4: an attribute that overruns the attribute space is malformed: treat-as-withdraw.
      errors.push(updateError('treat-as-withdraw', null, 'attribute header overruns the path attributes', UpdateMessageErrorSubcode.MalformedAttributeList));
      break;
    }
    const length = headerLength === 4 ? ((body[p + 2] as number) << 8) | (body[p + 3] as number) : (body[p + 2] as number);
    if (p + headerLength + length > attrEnd) {
      errors.push(
        updateError('treat-as-withdraw', attributeName(code), `length ${length} overruns the path attributes`, UpdateMessageErrorSubcode.AttributeLengthError, body.subarray(p, attrEnd)),
      );
      break;
    }
    const raw = body.subarray(p, p + headerLength + length);
    const value = body.subarray(p + headerLength, p + headerLength + length);
    p += headerLength + length;

    if (seen.has(code)) {
      if (code === AttrCode.MP_REACH_NLRI || code === AttrCode.MP_UNREACH_NLRI) {
        return reset(errors, updateError('session-reset', attributeName(code), 'appears twice', UpdateMessageErrorSubcode.MalformedAttributeList));
      }
      // RFC 7606 §3.g: keep the first, discard the rest.
      errors.push(updateError('attribute-discard', attributeName(code), 'appears twice; later copies discarded', UpdateMessageErrorSubcode.MalformedAttributeList, raw));
      continue;
    }
    seen.add(code);

    const d = attributeDescriptor(code) as AttributeDescriptor<AttributeKey> | undefined;
    if (d === undefined) {
      if ((flags & AttrFlag.Optional) === 0) {
        return reset(errors, updateError('session-reset', null, `unrecognized well-known attribute ${code}`, UpdateMessageErrorSubcode.UnrecognizedWellKnownAttribute, raw));
      }
      // RFC 4271 §5: unknown optional transitive attributes are passed on with Partial set;
      // unknown optional non-transitive ones are quietly ignored.
      if (flags & AttrFlag.Transitive) unknown.push({ code, flags: (flags & 0xe0) | AttrFlag.Partial, value: value.slice() });
      continue;
    }
    if ((flags & (AttrFlag.Optional | AttrFlag.Transitive)) !== d.flags) {
      const e = updateError(d.onFlagsError, d.name, `flags 0x${flags.toString(16)} conflict with 0x${d.flags.toString(16)}`, UpdateMessageErrorSubcode.AttributeFlagsError, raw);
      if (e.action === 'session-reset') return reset(errors, e);
      errors.push(e);
      continue;
    }
    const unwelcome = d.isUnwelcome?.(ctx) ?? null;
    if (unwelcome !== null) {
      errors.push(updateError('attribute-discard', d.name, unwelcome, d.malformedSubcode, raw));
      continue;
    }
    const decoded = d.decode(value, ctx);
    if (!decoded.ok) {
      const e = updateError(decoded.action ?? d.onMalformed, d.name, decoded.reason, decoded.subcode ?? d.malformedSubcode, raw);
      if (e.action === 'session-reset') return reset(errors, e);
      errors.push(e);
      continue;
    }
    setAttr(wire, d.key, decoded.value);
    if (flags & AttrFlag.Partial && d.flags === (AttrFlag.Optional | AttrFlag.Transitive)) partial.push(code);
  }

  // RFC 7606 §3.d: a missing well-known mandatory attribute → treat-as-withdraw (only matters with NLRI).
  if (nlri.length > 0 || wire.mpReachNlri !== undefined) {
    const mandatory: [number, unknown][] = [
      [AttrCode.ORIGIN, wire.origin],
      [AttrCode.AS_PATH, wire.asPath],
    ];
    // RFC 4760 §3: NEXT_HOP is needed only for IPv4 NLRI in the UPDATE itself.
    if (nlri.length > 0) mandatory.push([AttrCode.NEXT_HOP, wire.nextHop]);
    for (const [code, v] of mandatory) {
      if (v === undefined && !seen.has(code)) {
        errors.push(updateError('treat-as-withdraw', attributeName(code), 'missing', UpdateMessageErrorSubcode.MissingWellKnownAttribute, Uint8Array.of(code)));
      }
    }
  }

  const attributes = fromWire(wire, ctx);
  if (unknown.length > 0) attributes.unknown = unknown;
  const partialCodes = partial.filter((c) => isPresent(attributes, c)).sort((a, b) => a - b);
  if (partialCodes.length > 0) attributes.partialCodes = partialCodes;
  const update: Update = { withdrawn, attributes, nlri };
  const errorAction = strongest(errors);
  if (errorAction?.action !== 'treat-as-withdraw') return { update, errorAction };
  const asWithdrawal = toWithdrawal(update);
  if (asWithdrawal !== null) return { update: asWithdrawal, errorAction };
  return reset(errors, updateError('session-reset', 'MP_REACH_NLRI', 'treat-as-withdraw cannot express two address families', UpdateMessageErrorSubcode.MalformedAttributeList));
}

/** RFC 6793 §4.2.3 for 2-octet peers; AS4_* never leave the codec. */
function fromWire(wire: WireAttributes, ctx: CodecContext): PathAttributes {
  const { as4Path, as4Aggregator, ...attrs } = wire;
  if (ctx.hasFourOctetAs) return attrs;
  const out: PathAttributes = { ...attrs };
  if (attrs.aggregator !== undefined && as4Aggregator !== undefined) {
    // Both present and AGGREGATOR is not AS_TRANS: a 2-octet speaker aggregated
    // after the AS4_* attributes were made, so both are stale and ignored.
    if (attrs.aggregator.asn !== AS_TRANS) return out;
    out.aggregator = as4Aggregator;
  }
  if (attrs.asPath !== undefined && as4Path !== undefined) out.asPath = mergeAs4Path(attrs.asPath, as4Path);
  return out;
}

/** Treat-as-withdraw: every reachable prefix becomes a withdrawal; null if that needs two MP families. */
function toWithdrawal(u: Update): Update | null {
  const withdrawn = [...u.withdrawn, ...u.nlri];
  const reach = u.attributes.mpReachNlri;
  let unreach = u.attributes.mpUnreachNlri;
  if (reach !== undefined) {
    if (unreach !== undefined && unreach.afi === reach.afi && unreach.safi === reach.safi) {
      unreach = { ...unreach, withdrawn: [...unreach.withdrawn, ...reach.nlri] };
    } else if (reach.afi === AFI_IPV4 && reach.safi === SAFI_UNICAST) {
      withdrawn.push(...reach.nlri);
    } else if (unreach === undefined) {
      unreach = { afi: reach.afi, safi: reach.safi, withdrawn: reach.nlri };
    } else {
      return null;
    }
  }
  return { withdrawn, attributes: unreach === undefined ? {} : { mpUnreachNlri: unreach }, nlri: [] };
}

function isPresent(attrs: PathAttributes, code: number): boolean {
  const d = attributeDescriptor(code) as AttributeDescriptor<AttributeKey> | undefined;
  return d !== undefined && d.key in attrs && (attrs as WireAttributes)[d.key] !== undefined;
}

function toWire(attrs: PathAttributes, ctx: CodecContext): WireAttributes {
  const { unknown: _unknown, partialCodes: _partial, ...wire } = attrs;
  if (ctx.hasFourOctetAs) return wire;
  const out: WireAttributes = { ...wire };
  if (attrs.asPath !== undefined && needsAs4Path(attrs.asPath)) out.as4Path = attrs.asPath.filter((s) => !isConfedSegment(s));
  if (attrs.aggregator !== undefined && attrs.aggregator.asn > 0xffff) out.as4Aggregator = attrs.aggregator;
  return out;
}

function writeAttribute(w: ByteWriter, flags: number, code: number, value: Uint8Array): void {
  const isExtended = value.length > 255;
  w.u8((flags & 0xe0) | (isExtended ? AttrFlag.ExtendedLength : 0)).u8(code);
  if (isExtended) w.u16(value.length);
  else w.u8(value.length);
  w.bytes(value);
}

/** Writes every path attribute, MP attributes first (RFC 7606 §5.1). */
export function encodePathAttributes(w: ByteWriter, attrs: PathAttributes, ctx: CodecContext): void {
  const wire = toWire(attrs, ctx);
  for (const desc of ATTRIBUTES) {
    const d = desc as AttributeDescriptor<AttributeKey>;
    const v = wire[d.key];
    if (v === undefined) continue;
    const vw = new ByteWriter(32);
    d.encode(vw, v, ctx);
    const isPartial = attrs.partialCodes?.includes(d.code) === true;
    writeAttribute(w, d.flags | (isPartial ? AttrFlag.Partial : 0), d.code, vw.finish());
  }
  for (const u of attrs.unknown ?? []) writeAttribute(w, u.flags, u.code, u.value);
}

export function encodeUpdateBody(update: Update, ctx: CodecContext): Uint8Array {
  const w = new ByteWriter(64 + 5 * (update.nlri.length + update.withdrawn.length));
  const wlAt = w.reserveU16();
  writePrefixes(w, AFI_IPV4, update.withdrawn);
  w.patchU16(wlAt, w.length - wlAt - 2);
  const alAt = w.reserveU16();
  encodePathAttributes(w, update.attributes, ctx);
  w.patchU16(alAt, w.length - alAt - 2);
  writePrefixes(w, AFI_IPV4, update.nlri);
  return w.finish();
}

/**
 * End-of-RIB (RFC 4724 §2): an empty UPDATE for IPv4 unicast, an UPDATE with
 * only an empty MP_UNREACH_NLRI for any other family.
 */
export function endOfRib(afi: Afi, safi: number): Update {
  if (afi === AFI_IPV4 && safi === SAFI_UNICAST) return { withdrawn: [], attributes: {}, nlri: [] };
  return { withdrawn: [], attributes: { mpUnreachNlri: { afi, safi, withdrawn: [] } }, nlri: [] };
}

/** The family an End-of-RIB marker closes, or null if the update is not one. */
export function endOfRibFamily(u: Update): { afi: number; safi: number } | null {
  if (u.withdrawn.length > 0 || u.nlri.length > 0) return null;
  const keys = Object.keys(u.attributes).filter((k) => u.attributes[k as keyof PathAttributes] !== undefined);
  if (keys.length === 0) return { afi: AFI_IPV4, safi: SAFI_UNICAST };
  const un = u.attributes.mpUnreachNlri;
  if (keys.length === 1 && un !== undefined && un.withdrawn.length === 0) return { afi: un.afi, safi: un.safi };
  return null;
}
