/** KEEPALIVE (RFC 4271 §4.4): a header and nothing else. */
import { frameMessage, MessageType } from './header.js';
import { DEFAULT_CONTEXT } from './context.js';

export function encodeKeepalive(): Uint8Array {
  return frameMessage(MessageType.KEEPALIVE, new Uint8Array(0), DEFAULT_CONTEXT);
}
