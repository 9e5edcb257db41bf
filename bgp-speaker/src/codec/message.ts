/**
 * Whole messages: header + body, in symmetric encode/decode pairs. Every
 * decode returns a value; nothing here throws on a peer's bytes.
 */
import type { CodecContext } from './context.js';
import { BgpMessageError, type Decoded } from './errors.js';
import { decodeHeader, frameMessage, HEADER_LENGTH, MessageType, type MessageTypeCode } from './header.js';
import { decodeNotificationBody, encodeNotificationBody, ErrorCode, MessageHeaderErrorSubcode, type Notification } from './notification.js';
import { decodeOpenBody, encodeOpenBody, type Open } from './open.js';
import { decodeRouteRefreshBody, encodeRouteRefreshBody, type RouteRefresh } from './route-refresh.js';
import { decodeUpdateBody, encodeUpdateBody, type Update, type UpdateErrorAction } from './update.js';

export type BgpMessage =
  | { readonly type: 'OPEN'; readonly open: Open }
  | { readonly type: 'UPDATE'; readonly update: Update }
  | { readonly type: 'NOTIFICATION'; readonly notification: Notification }
  | { readonly type: 'KEEPALIVE' }
  | { readonly type: 'ROUTE_REFRESH'; readonly routeRefresh: RouteRefresh };

/**
 * A decoded message, or the error that resets the session. An UPDATE may
 * come with an RFC 7606 action weaker than session reset (attribute-discard,
 * treat-as-withdraw) that the update already reflects; an UPDATE whose action
 * is session-reset is returned as `ok: false` with that NOTIFICATION.
 */
export type DecodedMessage =
  | { readonly ok: true; readonly message: BgpMessage; readonly errorAction: UpdateErrorAction | null }
  | { readonly ok: false; readonly error: BgpMessageError };

/** Decodes one whole message (header included), e.g. a frame from MessageFramer. */
export function decodeMessage(bytes: Uint8Array, ctx: CodecContext): DecodedMessage {
  const header = decodeHeader(bytes, ctx);
  if (!header.ok) return header;
  const body = bytes.subarray(HEADER_LENGTH, header.value.length);
  switch (header.value.type) {
    case MessageType.OPEN: {
      const open = decodeOpenBody(body);
      return open.ok ? { ok: true, message: { type: 'OPEN', open: open.value }, errorAction: null } : open;
    }
    case MessageType.UPDATE: {
      const { update, errorAction } = decodeUpdateBody(body, ctx);
      if (errorAction?.action === 'session-reset') {
        const n = errorAction.notification;
        const reason = errorAction.errors.find((e) => e.action === 'session-reset')?.reason;
        return { ok: false, error: new BgpMessageError(n.errorCode, n.errorSubcode, n.data, reason) };
      }
      return { ok: true, message: { type: 'UPDATE', update }, errorAction };
    }
    case MessageType.NOTIFICATION: {
      const notification = decodeNotificationBody(body);
      if (notification === null) {
        return { ok: false, error: new BgpMessageError(ErrorCode.MessageHeaderError, MessageHeaderErrorSubcode.BadMessageLength, Uint8Array.of(0, bytes.length)) };
      }
      return { ok: true, message: { type: 'NOTIFICATION', notification }, errorAction: null };
    }
    case MessageType.KEEPALIVE:
      return { ok: true, message: { type: 'KEEPALIVE' }, errorAction: null };
    case MessageType.ROUTE_REFRESH:
      return { ok: true, message: { type: 'ROUTE_REFRESH', routeRefresh: decodeRouteRefreshBody(body) }, errorAction: null };
  }
}

export function encodeMessage(message: BgpMessage, ctx: CodecContext): Uint8Array {
  switch (message.type) {
    case 'OPEN':
      return frameMessage(MessageType.OPEN, encodeOpenBody(message.open), ctx);
    case 'UPDATE':
      return frameMessage(MessageType.UPDATE, encodeUpdateBody(message.update, ctx), ctx);
    case 'NOTIFICATION':
      return frameMessage(MessageType.NOTIFICATION, encodeNotificationBody(message.notification), ctx);
    case 'KEEPALIVE':
      return frameMessage(MessageType.KEEPALIVE, new Uint8Array(0), ctx);
    case 'ROUTE_REFRESH':
      return frameMessage(MessageType.ROUTE_REFRESH, encodeRouteRefreshBody(message.routeRefresh), ctx);
  }
}

function expectType<T>(bytes: Uint8Array, ctx: CodecContext, type: MessageTypeCode, pick: (m: BgpMessage) => T | undefined): Decoded<T> {
  const d = decodeMessage(bytes, ctx);
  if (!d.ok) return d;
  const v = pick(d.message);
  if (v === undefined) {
    return { ok: false, error: new BgpMessageError(ErrorCode.MessageHeaderError, MessageHeaderErrorSubcode.BadMessageType, Uint8Array.of(bytes[18] ?? 0), `expected type ${type}`) };
  }
  return { ok: true, value: v };
}

export function encodeOpen(open: Open, ctx: CodecContext): Uint8Array {
  return encodeMessage({ type: 'OPEN', open }, ctx);
}

export function decodeOpen(bytes: Uint8Array, ctx: CodecContext): Decoded<Open> {
  return expectType(bytes, ctx, MessageType.OPEN, (m) => (m.type === 'OPEN' ? m.open : undefined));
}

export function encodeUpdate(update: Update, ctx: CodecContext): Uint8Array {
  return encodeMessage({ type: 'UPDATE', update }, ctx);
}

/**
 * Decodes a whole UPDATE message. Header errors come back as an error action
 * of session reset too, so the caller has one shape to handle.
 */
export function decodeUpdate(bytes: Uint8Array, ctx: CodecContext): { update: Update; errorAction: UpdateErrorAction | null } {
  const header = decodeHeader(bytes, ctx);
  if (!header.ok || header.value.type !== MessageType.UPDATE) {
    const error = header.ok ? new BgpMessageError(ErrorCode.MessageHeaderError, MessageHeaderErrorSubcode.BadMessageType, Uint8Array.of(header.value.type)) : header.error;
    const e = { action: 'session-reset' as const, attribute: null, reason: error.message, notification: error.notification };
    return { update: { withdrawn: [], attributes: {}, nlri: [] }, errorAction: { action: 'session-reset', notification: error.notification, errors: [e] } };
  }
  return decodeUpdateBody(bytes.subarray(HEADER_LENGTH), ctx);
}

export function encodeNotification(notification: Notification, ctx: CodecContext): Uint8Array {
  return encodeMessage({ type: 'NOTIFICATION', notification }, ctx);
}

export function decodeNotification(bytes: Uint8Array, ctx: CodecContext): Decoded<Notification> {
  return expectType(bytes, ctx, MessageType.NOTIFICATION, (m) => (m.type === 'NOTIFICATION' ? m.notification : undefined));
}

export function encodeRouteRefresh(routeRefresh: RouteRefresh, ctx: CodecContext): Uint8Array {
  return encodeMessage({ type: 'ROUTE_REFRESH', routeRefresh }, ctx);
}

export function decodeRouteRefresh(bytes: Uint8Array, ctx: CodecContext): Decoded<RouteRefresh> {
  return expectType(bytes, ctx, MessageType.ROUTE_REFRESH, (m) => (m.type === 'ROUTE_REFRESH' ? m.routeRefresh : undefined));
}
