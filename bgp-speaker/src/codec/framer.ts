/**
 * Cuts a byte stream into whole BGP messages (pg-protocol's BufferReader
 * idea). Knows nothing of sockets: the driver pushes whatever chunks arrive
 * and gets back complete frames. A header that is not a BGP header (bad
 * marker or length) cannot be resynchronised, so the framer then reports that
 * error on every push and yields nothing more. Frames may be views into the
 * pushed chunks (no copy): a caller must not reuse a chunk's memory while it
 * still holds frames from it (Node's socket chunks are never reused).
 */
import type { CodecContext } from './context.js';
import type { BgpMessageError } from './errors.js';
import { checkFrame, HEADER_LENGTH, maxMessageLength } from './header.js';

export interface FramerOutput {
  /** Whole messages, header included, in arrival order. */
  readonly frames: Uint8Array[];
  /** Set once the stream is broken; the session must send it and close. */
  readonly error: BgpMessageError | null;
}

export class MessageFramer {
  private pending: Uint8Array = new Uint8Array(0);
  private broken: BgpMessageError | null = null;
  private maxLength: number;

  constructor(ctx: Pick<CodecContext, 'hasExtendedMessage'> = { hasExtendedMessage: false }) {
    this.maxLength = maxMessageLength(ctx);
  }

  /** After the OPEN exchange negotiates extended messages (RFC 8654). */
  setContext(ctx: Pick<CodecContext, 'hasExtendedMessage'>): void {
    this.maxLength = maxMessageLength(ctx);
  }

  /** Bytes held waiting for the rest of a message. */
  get bufferedBytes(): number {
    return this.pending.length;
  }

  push(chunk: Uint8Array): FramerOutput {
    if (this.broken !== null) return { frames: [], error: this.broken };
    let buf: Uint8Array;
    if (this.pending.length === 0) buf = chunk;
    else {
      buf = new Uint8Array(this.pending.length + chunk.length);
      buf.set(this.pending);
      buf.set(chunk, this.pending.length);
    }
    const frames: Uint8Array[] = [];
    let p = 0;
    while (buf.length - p >= HEADER_LENGTH) {
      const checked = checkFrame(buf.subarray(p, p + HEADER_LENGTH), this.maxLength);
      if (typeof checked !== 'number') {
        this.broken = checked;
        this.pending = new Uint8Array(0);
        return { frames, error: checked };
      }
      if (buf.length - p < checked) break;
      frames.push(buf.subarray(p, p + checked));
      p += checked;
    }
    // Copy the tail so a caller's reused chunk buffer cannot change it under us.
    this.pending = p === buf.length ? new Uint8Array(0) : buf.slice(p);
    return { frames, error: null };
  }
}
