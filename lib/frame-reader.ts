/**
 * Cuts a byte stream of length-prefixed frames (u32 big-endian length of the
 * rest, then the rest) into frame bodies, sans I/O. Used by the CNI agent's
 * socket (cni/src/agent/frame.ts) and by the spawner's pipes
 * (lib/kernel/spawner-frame.ts).
 */

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

export class FrameReader {
  readonly #maxFrameBytes: number;
  #buffered: Buffer = Buffer.alloc(0);

  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** The frame bodies completed by this chunk, whatever sizes chunks arrive in, or why the stream is unusable. A length above the limit is an error before any of it is buffered. */
  push(chunk: Buffer): Decoded<Buffer[]> {
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    const frames: Buffer[] = [];
    while (this.#buffered.length >= 4) {
      const length = this.#buffered.readUInt32BE(0);
      if (length > this.#maxFrameBytes) return { ok: false, reason: `frame of ${length} bytes exceeds the limit of ${this.#maxFrameBytes}` };
      if (this.#buffered.length < 4 + length) break;
      frames.push(this.#buffered.subarray(4, 4 + length));
      this.#buffered = this.#buffered.subarray(4 + length);
    }
    return { ok: true, value: frames };
  }

  /** Bytes of an incomplete frame still waiting for the rest. */
  get pendingBytes(): number {
    return this.#buffered.length;
  }
}
