/**
 * A peer's message that breaks RFC 4271 (or an extension) is a
 * BgpMessageError: its fields ARE the NOTIFICATION to send before the session
 * resets (STYLE.md §6). It extends TortieError so callers branch on
 * `err.code === 'ERR_BGP_MESSAGE'`; decoders return it as a value and never
 * throw anything on a peer's bytes.
 */
import { TortieError } from '../../../lib/errors.js';
import { describeNotification, type Notification } from './notification.js';

export class BgpMessageError extends TortieError {
  /** The NOTIFICATION this error stands for: send it, then drop the session. */
  readonly notification: Notification;

  constructor(errorCode: number, errorSubcode: number, data: Uint8Array = new Uint8Array(0), reason?: string) {
    const name = describeNotification({ errorCode, errorSubcode });
    super('ERR_BGP_MESSAGE', reason === undefined ? name : `${name}: ${reason}`, {
      details: { errorCode, errorSubcode },
    });
    this.name = 'BgpMessageError';
    this.notification = { errorCode, errorSubcode, data };
  }

  get errorCode(): number {
    return this.notification.errorCode;
  }

  get errorSubcode(): number {
    return this.notification.errorSubcode;
  }

  get data(): Uint8Array {
    return this.notification.data;
  }
}

/** A decode result: the value, or the NOTIFICATION-shaped error. Never a throw. */
export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: BgpMessageError };

export function isBgpMessageError(err: unknown): err is BgpMessageError {
  return err instanceof BgpMessageError;
}
