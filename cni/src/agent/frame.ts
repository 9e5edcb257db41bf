/**
 * The CNI agent's wire format (cni/DESIGN.md "Fast path"), sans I/O: what the
 * plugin (Node client or C shim) sends over the Unix socket and what the agent
 * answers. Length-prefixed binary, so a C program can write it with a few
 * lines and a reader never scans for delimiters.
 *
 *   request  = u32 length of the rest | u8 version (1)
 *              | u32 count | count × (u32 length | "NAME=value")   the forwarded environment
 *              | u32 length | stdin bytes                          the network configuration
 *   response = u32 length of the rest | u8 version (1) | u8 status | u8 exit code | stdout bytes
 *              status 0: served (stdout and exit code are the plugin's);
 *              status 1: not served (the bytes say why): the plugin does the job itself.
 *
 * Integers are big-endian. Only the environment the plugin reads is forwarded
 * (CNI_*, NODENAME, LOG_LEVEL), never the runtime's whole environment.
 */

import { FrameReader as LengthPrefixedFrameReader, type Decoded } from '../../../lib/frame-reader.js';

export const FRAME_VERSION = 1;
/** Largest frame either side accepts: a config with a prevResult is a few KiB; 1 MiB leaves room for any sane conflist. */
export const MAX_FRAME_BYTES = 1024 * 1024;

const FORWARDED_NAMES = new Set(['NODENAME', 'LOG_LEVEL']);

/** Whether the plugin reads this environment variable (and so the agent must get it). */
export function isForwardedEnv(name: string): boolean {
  return name.startsWith('CNI_') || FORWARDED_NAMES.has(name);
}

export function forwardedEnvOf(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined && isForwardedEnv(name)) out[name] = value;
  return out;
}

export interface AgentRequest {
  env: Record<string, string>;
  stdin: Uint8Array;
}

export type AgentResponse =
  | { status: 'served'; exitCode: number; stdout: Uint8Array }
  | { status: 'unserved'; reason: string };

export type { Decoded };

const RESPONSE_STATUS = { served: 0, unserved: 1 } as const;

export function encodeRequest(request: AgentRequest): Buffer {
  const entries = Object.entries(request.env).map(([name, value]) => Buffer.from(`${name}=${value}`, 'utf8'));
  const length = 1 + 4 + entries.reduce((n, e) => n + 4 + e.length, 0) + 4 + request.stdin.length;
  const out = Buffer.allocUnsafe(4 + length);
  let at = out.writeUInt32BE(length, 0);
  at = out.writeUInt8(FRAME_VERSION, at);
  at = out.writeUInt32BE(entries.length, at);
  for (const e of entries) {
    at = out.writeUInt32BE(e.length, at);
    at += e.copy(out, at);
  }
  at = out.writeUInt32BE(request.stdin.length, at);
  out.set(request.stdin, at);
  return out;
}

/** A request's body (the bytes after the length prefix); a malformed one is a reason, never a throw. */
export function decodeRequest(body: Buffer): Decoded<AgentRequest> {
  if (body.length < 1 || body.readUInt8(0) !== FRAME_VERSION) return { ok: false, reason: `unknown frame version ${body.length < 1 ? 'none' : body.readUInt8(0)}` };
  let at = 1;
  const u32 = (): number | null => {
    if (at + 4 > body.length) return null;
    const n = body.readUInt32BE(at);
    at += 4;
    return n;
  };
  const count = u32();
  if (count === null) return { ok: false, reason: 'truncated before the environment count' };
  const env: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    const n = u32();
    if (n === null || at + n > body.length) return { ok: false, reason: `environment entry ${i} runs past the frame` };
    const entry = body.toString('utf8', at, at + n);
    at += n;
    const eq = entry.indexOf('=');
    if (eq <= 0) return { ok: false, reason: `environment entry ${i} is not NAME=value` };
    const name = entry.slice(0, eq);
    if (isForwardedEnv(name)) env[name] = entry.slice(eq + 1);
  }
  const stdinLength = u32();
  if (stdinLength === null || at + stdinLength !== body.length) return { ok: false, reason: 'stdin length does not match the frame' };
  return { ok: true, value: { env, stdin: body.subarray(at, at + stdinLength) } };
}

export function encodeResponse(response: AgentResponse): Buffer {
  const payload = response.status === 'served' ? response.stdout : Buffer.from(response.reason, 'utf8');
  const exitCode = response.status === 'served' ? response.exitCode : 0;
  const out = Buffer.allocUnsafe(4 + 3 + payload.length);
  out.writeUInt32BE(3 + payload.length, 0);
  out.writeUInt8(FRAME_VERSION, 4);
  out.writeUInt8(RESPONSE_STATUS[response.status], 5);
  out.writeUInt8(exitCode & 0xff, 6);
  out.set(payload, 7);
  return out;
}

export function decodeResponse(body: Buffer): Decoded<AgentResponse> {
  if (body.length < 3 || body.readUInt8(0) !== FRAME_VERSION) return { ok: false, reason: 'malformed response header' };
  const payload = body.subarray(3);
  switch (body.readUInt8(1)) {
    case RESPONSE_STATUS.served:
      return { ok: true, value: { status: 'served', exitCode: body.readUInt8(2), stdout: payload } };
    case RESPONSE_STATUS.unserved:
      return { ok: true, value: { status: 'unserved', reason: payload.toString('utf8') } };
    default:
      return { ok: false, reason: `unknown response status ${body.readUInt8(1)}` };
  }
}

/** lib/frame-reader.ts with this wire format's limit as the default. */
export class FrameReader extends LengthPrefixedFrameReader {
  constructor(maxFrameBytes = MAX_FRAME_BYTES) {
    super(maxFrameBytes);
  }
}
