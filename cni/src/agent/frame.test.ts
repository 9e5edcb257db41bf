import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameReader, decodeRequest, decodeResponse, encodeRequest, encodeResponse, forwardedEnvOf, type AgentRequest } from './frame.js';

const body = (frame: Buffer) => frame.subarray(4);

describe('agent frames', () => {
  const request: AgentRequest = {
    env: { CNI_COMMAND: 'ADD', CNI_ARGS: 'K8S_POD_NAME=web=0;X=1', NODENAME: 'node1' },
    stdin: Buffer.from('{"cniVersion":"1.0.0","name":"n"}'),
  };

  it('a request decodes to what was encoded', () => {
    const decoded = decodeRequest(body(encodeRequest(request)));
    expect(decoded).toEqual({ ok: true, value: { env: request.env, stdin: Buffer.from(request.stdin) } });
  });

  it('only the environment the plugin reads is forwarded, and only that is accepted', () => {
    expect(forwardedEnvOf({ CNI_COMMAND: 'DEL', PATH: '/bin', HOME: '/root', LOG_LEVEL: 'debug', AWS_SECRET: 'x' })).toEqual({ CNI_COMMAND: 'DEL', LOG_LEVEL: 'debug' });
    const smuggled = decodeRequest(body(encodeRequest({ env: { CNI_COMMAND: 'ADD', PATH: '/evil' }, stdin: new Uint8Array() })));
    expect(smuggled.ok && smuggled.value.env).toEqual({ CNI_COMMAND: 'ADD' });
  });

  it('responses decode to what was encoded, served or not', () => {
    expect(decodeResponse(body(encodeResponse({ status: 'served', exitCode: 1, stdout: Buffer.from('{"code":7}\n') })))).toEqual({
      ok: true,
      value: { status: 'served', exitCode: 1, stdout: Buffer.from('{"code":7}\n') },
    });
    expect(decodeResponse(body(encodeResponse({ status: 'unserved', reason: 'other datastore' })))).toEqual({ ok: true, value: { status: 'unserved', reason: 'other datastore' } });
  });

  it.each([
    ['empty', ''],
    ['another version', '02000000000000000000'],
    ['an environment count past the end', '01000000050000000341'],
    ['an entry without =', '0100000001000000024142' + '00000000'],
    ['a stdin length that does not match', '01' + '00000000' + '00000009' + '7b7d'],
  ])('a malformed request (%s) is a reason, not a throw', (_name, hex) => {
    expect(decodeRequest(Buffer.from(hex, 'hex')).ok).toBe(false);
  });

  it('arbitrary bytes only ever decode to a request or a reason', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const buf = Buffer.from(bytes);
        expect(typeof decodeRequest(buf).ok).toBe('boolean');
        expect(typeof decodeResponse(buf).ok).toBe('boolean');
      }),
    );
  });

  it('the reader gives the same frames whatever offsets the stream is split at', () => {
    const frames = [encodeRequest(request), encodeResponse({ status: 'served', exitCode: 0, stdout: Buffer.from('x') }), encodeRequest({ env: {}, stdin: new Uint8Array() })];
    const stream = Buffer.concat(frames);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 12 }), (cuts) => {
        const reader = new FrameReader();
        const got: Buffer[] = [];
        let from = 0;
        for (const at of [...cuts.sort((a, b) => a - b), stream.length]) {
          const r = reader.push(stream.subarray(from, at));
          expect(r.ok).toBe(true);
          if (r.ok) got.push(...r.value);
          from = at;
        }
        expect(got).toEqual(frames.map(body));
        expect(reader.pendingBytes).toBe(0);
      }),
    );
  });

  it('a length over the limit is refused before anything is buffered', () => {
    const reader = new FrameReader(1024);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1025);
    expect(reader.push(header)).toEqual({ ok: false, reason: 'frame of 1025 bytes exceeds the limit of 1024' });
  });
});
