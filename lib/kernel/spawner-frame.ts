/**
 * The wire format between spawner.ts and tortie-spawner.c, sans I/O. One
 * request, then one response, on the helper's stdin and stdout.
 *
 *   request  = u32 length of the rest | u32 id | u32 timeout ms
 *              | u32 n | netns path ("" = the helper's own namespace)
 *              | u32 argc | argc × (u32 n | bytes)
 *              | u32 envc | envc × (u32 n | "NAME=value")
 *              | u32 n | stdin bytes
 *   response = u32 length of the rest | u32 id | u8 outcome | i32 value
 *              | u32 n | stdout bytes | u32 n | stderr bytes
 *
 * Integers are big-endian; strings are UTF-8 without NUL (C strings on the
 * other side, so a NUL is refused here rather than silently cut there).
 */
import type { Decoded } from '../frame-reader.js';

/** Largest request the helper accepts (its MAX_REQUEST_BYTES). */
export const MAX_SPAWN_REQUEST_BYTES = 16 * 1024 * 1024;
/** Largest response: the helper kills a command past 64 MiB of output, and both streams are framed. */
export const MAX_SPAWN_RESPONSE_BYTES = 2 * 64 * 1024 * 1024 + 1024 * 1024;

export interface SpawnRequest {
  id: number;
  /** 0: no limit. */
  timeoutMs: number;
  /** nsfs path to setns(CLONE_NEWNET) into before exec; null stays in the helper's namespace. */
  netns: string | null;
  /** argv[0] is looked up in PATH. */
  argv: readonly string[];
  /** Set on top of the helper's environment. */
  env: Readonly<Record<string, string>>;
  input: string;
}

export type SpawnOutcome =
  /** `value` is the exit code. */
  | 'exited'
  /** `value` is the signal number. */
  | 'killed'
  /** Killed with SIGKILL after the request's timeout (or for printing over 64 MiB). */
  | 'timed-out'
  /** `value` is the errno; stderr names the step (open, setns, exec) and the error. */
  | 'not-started';

const OUTCOMES: readonly SpawnOutcome[] = ['exited', 'killed', 'timed-out', 'not-started'];

export interface SpawnResponse {
  id: number;
  outcome: SpawnOutcome;
  value: number;
  stdout: Buffer;
  stderr: Buffer;
}

function cString(what: string, s: string): Buffer {
  if (s.includes('\0')) throw new TypeError(`${what} contains a NUL byte: ${JSON.stringify(s)}`);
  return Buffer.from(s, 'utf8');
}

/** Throws TypeError for what the helper could not carry (NUL bytes, an empty argv, an oversized request): a bug in the caller. */
export function encodeSpawnRequest(request: SpawnRequest): Buffer {
  if (request.argv.length === 0) throw new TypeError('a spawn request needs a command');
  const fields = [
    cString('netns path', request.netns ?? ''),
    ...request.argv.map((a) => cString('argument', a)),
    ...Object.entries(request.env).map(([name, value]) => cString('environment entry', `${name}=${value}`)),
  ];
  const input = Buffer.from(request.input, 'utf8');
  // id, timeout, argc, envc and the input's length, then each field with its length.
  const length = 4 * 5 + fields.reduce((n, f) => n + 4 + f.length, 0) + input.length;
  if (length > MAX_SPAWN_REQUEST_BYTES) throw new TypeError(`a spawn request of ${length} bytes exceeds ${MAX_SPAWN_REQUEST_BYTES}`);
  const out = Buffer.allocUnsafe(4 + length);
  let at = out.writeUInt32BE(length, 0);
  at = out.writeUInt32BE(request.id >>> 0, at);
  at = out.writeUInt32BE(Math.max(0, Math.min(Math.ceil(request.timeoutMs), 0xffffffff)), at);
  const put = (f: Buffer): void => {
    at = out.writeUInt32BE(f.length, at);
    at += f.copy(out, at);
  };
  put(fields[0] as Buffer);
  at = out.writeUInt32BE(request.argv.length, at);
  for (const f of fields.slice(1, 1 + request.argv.length)) put(f);
  at = out.writeUInt32BE(fields.length - 1 - request.argv.length, at);
  for (const f of fields.slice(1 + request.argv.length)) put(f);
  put(input);
  return out;
}

/** A response's body (the bytes after the length prefix); a malformed one is a reason, never a throw. */
export function decodeSpawnResponse(body: Buffer): Decoded<SpawnResponse> {
  if (body.length < 4 + 1 + 4 + 4) return { ok: false, reason: `response of ${body.length} bytes is shorter than its header` };
  const id = body.readUInt32BE(0);
  const outcome = OUTCOMES[body.readUInt8(4)];
  if (outcome === undefined) return { ok: false, reason: `unknown outcome ${body.readUInt8(4)}` };
  const value = body.readInt32BE(5);
  let at = 9;
  const bytes = (): Buffer | null => {
    if (at + 4 > body.length) return null;
    const n = body.readUInt32BE(at);
    if (at + 4 + n > body.length) return null;
    const b = body.subarray(at + 4, at + 4 + n);
    at += 4 + n;
    return b;
  };
  const stdout = bytes();
  const stderr = stdout === null ? null : bytes();
  if (stdout === null || stderr === null || at !== body.length) return { ok: false, reason: 'output lengths do not match the frame' };
  return { ok: true, value: { id, outcome, value, stdout, stderr } };
}
