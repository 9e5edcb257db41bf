/**
 * NOTIFICATION (RFC 4271 §4.5, §6) with codes and subcodes by their RFC
 * names: 4271, 5492 (capabilities), 6608 (FSM errors), 4486/8538 (Cease),
 * 7313 (ROUTE-REFRESH), and the RFC 9003 shutdown communication.
 */
import { ByteReader } from './reader.js';
import { ByteWriter } from './writer.js';

export interface Notification {
  readonly errorCode: number;
  readonly errorSubcode: number;
  readonly data: Uint8Array;
}

export const ErrorCode = {
  MessageHeaderError: 1,
  OpenMessageError: 2,
  UpdateMessageError: 3,
  HoldTimerExpired: 4,
  FiniteStateMachineError: 5,
  Cease: 6,
  RouteRefreshMessageError: 7,
} as const;

export const MessageHeaderErrorSubcode = {
  ConnectionNotSynchronized: 1,
  BadMessageLength: 2,
  BadMessageType: 3,
} as const;

export const OpenMessageErrorSubcode = {
  Unspecific: 0,
  UnsupportedVersionNumber: 1,
  BadPeerAs: 2,
  BadBgpIdentifier: 3,
  UnsupportedOptionalParameter: 4,
  UnacceptableHoldTime: 6,
  UnsupportedCapability: 7,
} as const;

export const UpdateMessageErrorSubcode = {
  MalformedAttributeList: 1,
  UnrecognizedWellKnownAttribute: 2,
  MissingWellKnownAttribute: 3,
  AttributeFlagsError: 4,
  AttributeLengthError: 5,
  InvalidOriginAttribute: 6,
  InvalidNextHopAttribute: 8,
  OptionalAttributeError: 9,
  InvalidNetworkField: 10,
  MalformedAsPath: 11,
} as const;

/** RFC 6608. */
export const FiniteStateMachineErrorSubcode = {
  UnspecifiedError: 0,
  ReceiveUnexpectedMessageInOpenSent: 1,
  ReceiveUnexpectedMessageInOpenConfirm: 2,
  ReceiveUnexpectedMessageInEstablished: 3,
} as const;

/** RFC 4486, plus Hard Reset (RFC 8538) and BFD Down (RFC 9384). */
export const CeaseSubcode = {
  MaximumNumberOfPrefixesReached: 1,
  AdministrativeShutdown: 2,
  PeerDeconfigured: 3,
  AdministrativeReset: 4,
  ConnectionRejected: 5,
  OtherConfigurationChange: 6,
  ConnectionCollisionResolution: 7,
  OutOfResources: 8,
  HardReset: 9,
  BfdDown: 10,
} as const;

/** RFC 7313. */
export const RouteRefreshMessageErrorSubcode = {
  InvalidMessageLength: 1,
} as const;

const subcodeTables: Record<number, Record<string, number>> = {
  [ErrorCode.MessageHeaderError]: MessageHeaderErrorSubcode,
  [ErrorCode.OpenMessageError]: OpenMessageErrorSubcode,
  [ErrorCode.UpdateMessageError]: UpdateMessageErrorSubcode,
  [ErrorCode.FiniteStateMachineError]: FiniteStateMachineErrorSubcode,
  [ErrorCode.Cease]: CeaseSubcode,
  [ErrorCode.RouteRefreshMessageError]: RouteRefreshMessageErrorSubcode,
};

function nameOf(table: Record<string, number>, value: number): string | undefined {
  for (const [k, v] of Object.entries(table)) if (v === value) return k;
  return undefined;
}

/** "Cease/AdministrativeShutdown", "UpdateMessageError/MalformedAsPath", or numbers when unknown. */
export function describeNotification(n: Pick<Notification, 'errorCode' | 'errorSubcode'>): string {
  const code = nameOf(ErrorCode, n.errorCode) ?? `code ${n.errorCode}`;
  const table = subcodeTables[n.errorCode];
  const sub = table === undefined ? undefined : nameOf(table, n.errorSubcode);
  if (sub !== undefined) return `${code}/${sub}`;
  return n.errorSubcode === 0 ? code : `${code}/subcode ${n.errorSubcode}`;
}

export function encodeNotificationBody(n: Notification): Uint8Array {
  return new ByteWriter(2 + n.data.length).u8(n.errorCode).u8(n.errorSubcode).bytes(n.data).finish();
}

/**
 * Decodes a NOTIFICATION body (after the header). The header check already
 * guaranteed at least 2 bytes; a shorter body yields null. Unknown codes are
 * kept as numbers: a NOTIFICATION ends the session whatever it says.
 */
export function decodeNotificationBody(body: Uint8Array): Notification | null {
  if (body.length < 2) return null;
  const r = new ByteReader(body);
  return { errorCode: r.u8(), errorSubcode: r.u8(), data: body.slice(2) };
}

/** RFC 9003: the shutdown communication is at most 255 octets of UTF-8. */
export const MAX_SHUTDOWN_COMMUNICATION_BYTES = 255;

/**
 * A Cease NOTIFICATION for Administrative Shutdown or Reset with an operator's
 * message (RFC 9003), truncated on a character boundary to 255 octets.
 */
export function shutdownNotification(
  subcode: typeof CeaseSubcode.AdministrativeShutdown | typeof CeaseSubcode.AdministrativeReset,
  message = '',
): Notification {
  let text = new TextEncoder().encode(message);
  if (text.length > MAX_SHUTDOWN_COMMUNICATION_BYTES) {
    let cut = MAX_SHUTDOWN_COMMUNICATION_BYTES;
    while (cut > 0 && ((text[cut] as number) & 0xc0) === 0x80) cut--; // do not split a UTF-8 sequence
    text = text.slice(0, cut);
  }
  const data = new Uint8Array(1 + text.length);
  data[0] = text.length;
  data.set(text, 1);
  return { errorCode: ErrorCode.Cease, errorSubcode: subcode, data };
}

/** The RFC 9003 message of a Cease shutdown/reset NOTIFICATION, or null if it has none or it is malformed. */
export function decodeShutdownCommunication(n: Notification): string | null {
  if (n.errorCode !== ErrorCode.Cease) return null;
  if (n.errorSubcode !== CeaseSubcode.AdministrativeShutdown && n.errorSubcode !== CeaseSubcode.AdministrativeReset) return null;
  const len = n.data[0];
  if (len === undefined || len === 0 || 1 + len > n.data.length) return null;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(n.data.subarray(1, 1 + len));
  } catch (err) {
    // RFC 9003 §2: invalid UTF-8 is logged as a hex dump by the caller, not surfaced as text.
    if (err instanceof TypeError) return null;
    throw err;
  }
}
