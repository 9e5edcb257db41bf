/**
 * The 19-byte message header (RFC 4271 §4.1) and its checks (§6.1).
 */
import type { CodecContext } from './context.js';
import { BgpMessageError, type Decoded } from './errors.js';
import { ErrorCode, MessageHeaderErrorSubcode, RouteRefreshMessageErrorSubcode } from './notification.js';

export const HEADER_LENGTH = 19;
export const MARKER_LENGTH = 16;
export const MAX_MESSAGE_LENGTH = 4096;
/** RFC 8654. */
export const MAX_EXTENDED_MESSAGE_LENGTH = 65535;

export const MessageType = {
  OPEN: 1,
  UPDATE: 2,
  NOTIFICATION: 3,
  KEEPALIVE: 4,
  ROUTE_REFRESH: 5,
} as const;
export type MessageTypeCode = (typeof MessageType)[keyof typeof MessageType];

/** Smallest legal total length per type (§4.2–4.5, RFC 2918). */
const MIN_LENGTH: Record<number, number> = {
  [MessageType.OPEN]: 29,
  [MessageType.UPDATE]: 23,
  [MessageType.NOTIFICATION]: 21,
  [MessageType.KEEPALIVE]: 19,
  [MessageType.ROUTE_REFRESH]: 23,
};

export interface Header {
  readonly length: number;
  readonly type: MessageTypeCode;
}

export function maxMessageLength(ctx: Pick<CodecContext, 'hasExtendedMessage'>): number {
  return ctx.hasExtendedMessage ? MAX_EXTENDED_MESSAGE_LENGTH : MAX_MESSAGE_LENGTH;
}

function lengthData(length: number): Uint8Array {
  return Uint8Array.of(length >> 8, length & 0xff);
}

/**
 * Checks marker and length only (what the framer needs to cut the stream).
 * `bytes` must hold at least HEADER_LENGTH bytes.
 */
export function checkFrame(bytes: Uint8Array, maxLength: number): BgpMessageError | number {
  for (let i = 0; i < MARKER_LENGTH; i++) {
    if (bytes[i] !== 0xff) {
      return new BgpMessageError(ErrorCode.MessageHeaderError, MessageHeaderErrorSubcode.ConnectionNotSynchronized, undefined, 'marker is not all ones');
    }
  }
  const length = ((bytes[16] as number) << 8) | (bytes[17] as number);
  if (length < HEADER_LENGTH || length > maxLength) {
    return new BgpMessageError(ErrorCode.MessageHeaderError, MessageHeaderErrorSubcode.BadMessageLength, lengthData(length), `length ${length}`);
  }
  return length;
}

/** Decodes and checks a header (§6.1): marker, length range, type, per-type length. */
export function decodeHeader(bytes: Uint8Array, ctx: Pick<CodecContext, 'hasExtendedMessage'>): Decoded<Header> {
  if (bytes.length < HEADER_LENGTH) {
    return {
      ok: false,
      error: new BgpMessageError(ErrorCode.MessageHeaderError, MessageHeaderErrorSubcode.BadMessageLength, lengthData(bytes.length), `only ${bytes.length} bytes`),
    };
  }
  const checked = checkFrame(bytes, maxMessageLength(ctx));
  if (typeof checked !== 'number') return { ok: false, error: checked };
  const length = checked;
  const type = bytes[18] as number;
  const min = MIN_LENGTH[type];
  if (min === undefined) {
    return { ok: false, error: new BgpMessageError(ErrorCode.MessageHeaderError, MessageHeaderErrorSubcode.BadMessageType, Uint8Array.of(type), `type ${type}`) };
  }
  if (length < min || (type === MessageType.KEEPALIVE && length !== HEADER_LENGTH)) {
    return { ok: false, error: new BgpMessageError(ErrorCode.MessageHeaderError, MessageHeaderErrorSubcode.BadMessageLength, lengthData(length), `length ${length} for type ${type}`) };
  }
  if (type === MessageType.ROUTE_REFRESH && length !== 23) {
    // RFC 7313 §5: a ROUTE-REFRESH of the wrong length has its own error code; the data is the whole message.
    return {
      ok: false,
      error: new BgpMessageError(ErrorCode.RouteRefreshMessageError, RouteRefreshMessageErrorSubcode.InvalidMessageLength, bytes.slice(0, Math.min(length, bytes.length)), `length ${length}`),
    };
  }
  if (bytes.length !== length) {
    return { ok: false, error: new BgpMessageError(ErrorCode.MessageHeaderError, MessageHeaderErrorSubcode.BadMessageLength, lengthData(length), `header says ${length}, got ${bytes.length} bytes`) };
  }
  return { ok: true, value: { length, type: type as MessageTypeCode } };
}

/** A whole message: marker, length, type, body. */
export function frameMessage(type: MessageTypeCode, body: Uint8Array, ctx: Pick<CodecContext, 'hasExtendedMessage'>): Uint8Array {
  const length = HEADER_LENGTH + body.length;
  if (length > maxMessageLength(ctx)) {
    throw new RangeError(`message of ${length} bytes exceeds ${maxMessageLength(ctx)}; split it before encoding`);
  }
  const out = new Uint8Array(length);
  out.fill(0xff, 0, MARKER_LENGTH);
  out[16] = length >> 8;
  out[17] = length & 0xff;
  out[18] = type;
  out.set(body, HEADER_LENGTH);
  return out;
}
