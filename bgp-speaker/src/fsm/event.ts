/**
 * FSM events named as RFC 4271 §8.1 (without underscores), plus
 * RouteRefreshMsg (RFC 2918) and IdleHoldTimerExpires. DelayOpen (events 12,
 * 20) and TcpConnection_Valid/Tcp_CR_Invalid (14, 15: the driver decides
 * which connections to accept) are not modelled. `eventForMessage` turns a
 * decoded message into its event.
 */
import type { BgpMessageError } from '../codec/errors.js';
import type { DecodedMessage } from '../codec/message.js';
import { ErrorCode, OpenMessageErrorSubcode, type Notification } from '../codec/notification.js';
import type { Open } from '../codec/open.js';
import type { RouteRefresh } from '../codec/route-refresh.js';
import type { Update, UpdateErrorAction } from '../codec/update.js';

export type FsmEvent =
  // Administrative events (§8.1.2)
  | { readonly type: 'ManualStart' }
  | { readonly type: 'ManualStartWithPassiveTcpEstablishment' }
  | { readonly type: 'AutomaticStart' }
  | { readonly type: 'AutomaticStartWithPassiveTcpEstablishment' }
  /** `notification` defaults to Cease/AdministrativeShutdown; pass one with a RFC 9003 message, or PeerDeconfigured. */
  | { readonly type: 'ManualStop'; readonly notification?: Notification }
  /** e.g. Cease/MaximumNumberOfPrefixesReached. */
  | { readonly type: 'AutomaticStop'; readonly notification?: Notification }
  // Timer events (§8.1.3)
  | { readonly type: 'ConnectRetryTimerExpires' }
  | { readonly type: 'HoldTimerExpires' }
  | { readonly type: 'KeepaliveTimerExpires' }
  | { readonly type: 'IdleHoldTimerExpires' }
  // TCP connection events (§8.1.4)
  | { readonly type: 'TcpCRAcked' }
  | { readonly type: 'TcpConnectionConfirmed' }
  | { readonly type: 'TcpConnectionFails' }
  // BGP message events (§8.1.5)
  | { readonly type: 'BGPOpen'; readonly open: Open }
  | { readonly type: 'BGPHeaderErr'; readonly error: BgpMessageError }
  | { readonly type: 'BGPOpenMsgErr'; readonly error: BgpMessageError }
  | { readonly type: 'OpenCollisionDump' }
  | { readonly type: 'NotifMsgVerErr'; readonly notification: Notification }
  | { readonly type: 'NotifMsg'; readonly notification: Notification }
  | { readonly type: 'KeepAliveMsg' }
  | { readonly type: 'UpdateMsg'; readonly update: Update; readonly errorAction: UpdateErrorAction | null }
  | { readonly type: 'UpdateMsgErr'; readonly error: BgpMessageError }
  | { readonly type: 'RouteRefreshMsg'; readonly routeRefresh: RouteRefresh };

export type FsmEventType = FsmEvent['type'];

/** The event a decoded message raises (§8.1.5). */
export function eventForMessage(decoded: DecodedMessage): FsmEvent {
  if (!decoded.ok) {
    const { error } = decoded;
    if (error.errorCode === ErrorCode.OpenMessageError) return { type: 'BGPOpenMsgErr', error };
    if (error.errorCode === ErrorCode.UpdateMessageError) return { type: 'UpdateMsgErr', error };
    // Header errors, and ROUTE-REFRESH length errors (RFC 7313), reset the session with their own NOTIFICATION.
    return { type: 'BGPHeaderErr', error };
  }
  const m = decoded.message;
  switch (m.type) {
    case 'OPEN':
      return { type: 'BGPOpen', open: m.open };
    case 'UPDATE':
      return { type: 'UpdateMsg', update: m.update, errorAction: decoded.errorAction };
    case 'NOTIFICATION':
      return m.notification.errorCode === ErrorCode.OpenMessageError && m.notification.errorSubcode === OpenMessageErrorSubcode.UnsupportedVersionNumber
        ? { type: 'NotifMsgVerErr', notification: m.notification }
        : { type: 'NotifMsg', notification: m.notification };
    case 'KEEPALIVE':
      return { type: 'KeepAliveMsg' };
    case 'ROUTE_REFRESH':
      return { type: 'RouteRefreshMsg', routeRefresh: m.routeRefresh };
  }
}
