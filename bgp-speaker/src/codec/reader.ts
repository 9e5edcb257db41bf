/**
 * A bounds-checked read cursor over a byte slice. Reading past the end
 * throws ReadOverrun, which only the codec's own decoders catch (each turns it
 * into the NOTIFICATION or RFC 7606 action its message type calls for); it
 * never escapes a public decode function.
 */
export class ReadOverrun extends Error {
  constructor(readonly wanted: number, readonly available: number) {
    super(`read of ${wanted} bytes with ${available} left`);
    this.name = 'ReadOverrun';
  }
}

export class ByteReader {
  private pos: number;
  private readonly end: number;

  constructor(private readonly buf: Uint8Array, start = 0, end = buf.length) {
    this.pos = start;
    this.end = end;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  get isAtEnd(): boolean {
    return this.pos >= this.end;
  }

  private need(n: number): void {
    if (this.end - this.pos < n) throw new ReadOverrun(n, this.end - this.pos);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }

  u16(): number {
    this.need(2);
    const b = this.buf;
    const v = ((b[this.pos] as number) << 8) | (b[this.pos + 1] as number);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const b = this.buf;
    const p = this.pos;
    const v = (b[p] as number) * 0x1000000 + (((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number));
    this.pos += 4;
    return v;
  }

  /** A view (not a copy) of the next n bytes. */
  bytes(n: number): Uint8Array {
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** A reader over the next n bytes; this reader skips past them. */
  sub(n: number): ByteReader {
    this.need(n);
    const r = new ByteReader(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }

  rest(): Uint8Array {
    return this.bytes(this.remaining);
  }
}
