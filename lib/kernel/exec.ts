/**
 * The one place in tortie that runs other binaries (ip, nft, sysctl, ping...).
 *
 * Everything else receives a `CommandRunner` from its `main.ts`, so a unit test
 * can hand in a recorder and an integration test the real thing. A failure is
 * always a TortieError `ERR_KERNEL` whose message names the command line and
 * the tool's stderr, which is what an operator needs to act on it.
 */
import { execa } from 'execa';
import { TortieError } from '../errors.js';

export interface RunOptions {
  /** Written to the command's stdin (for `ip -batch -`, `nft -f -`). */
  input?: string;
  /**
   * Run the command inside this network namespace: a path to an nsfs file
   * (`/run/netns/x`, `/proc/PID/ns/net`). Implemented with `nsenter --net=`,
   * which only switches the network namespace (no mount namespace or /sys
   * remount as `ip netns exec` does: about half its cost). /proc/sys/net seen
   * by the command is that namespace's.
   */
  netns?: string;
  /** Kill the command after this long (default 30 s). */
  timeoutMs?: number;
  /** Variables set for the command, on top of this process's environment. */
  env?: Readonly<Record<string, string>>;
}

/** What a failed command leaves for its caller (also in `TortieError.details`). */
export interface CommandFailure {
  command: string;
  exitCode: number | null;
  stderr: string;
  /** What the command printed on stdout before failing (a CNI plugin's error object, say). */
  stdout: string;
  signal: string | null;
  timedOut: boolean;
}

export type CommandRunner = (file: string, args: readonly string[], options?: RunOptions) => Promise<string>;

export const NSENTER = 'nsenter';
export const DEFAULT_TIMEOUT_MS = 30_000;

/** The argv actually spawned for `file args` in `netns` (exported for tests and logs). */
export function commandLine(file: string, args: readonly string[], netns?: string): string[] {
  return netns === undefined ? [file, ...args] : [NSENTER, `--net=${netns}`, '--', file, ...args];
}

/** A shell-ish rendering for messages; never executed. */
export function formatCommand(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(' ');
}

/**
 * Runs `file args` and resolves to its stdout. Rejects with ERR_KERNEL naming
 * the command and its stderr when it cannot start, exits non-zero, is killed
 * or times out.
 */
export const runCommand: CommandRunner = async (file, args, options = {}) => {
  const [bin, ...argv] = commandLine(file, args, options.netns);
  const result = await execa(bin as string, argv, {
    input: options.input ?? '',
    reject: false,
    stripFinalNewline: false,
    timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    env: { ...options.env, LC_ALL: 'C' },
    extendEnv: true,
  });
  if (result.exitCode === 0 && !result.failed) return result.stdout;
  const failure: CommandFailure = {
    command: formatCommand([bin as string, ...argv]),
    exitCode: result.exitCode ?? null,
    stderr: result.stderr.trim(),
    stdout: result.stdout,
    signal: result.signal ?? null,
    timedOut: result.timedOut,
  };
  const startError = result.cause instanceof Error ? result.cause.message : 'unknown reason';
  throw commandError(failure, startError, result.cause ?? undefined);
};

/**
 * The ERR_KERNEL error for a failed command, worded the same whoever ran it
 * (execa here, tortie-spawner in spawner.ts). `startError` says why a command
 * that never ran (no exit code, no signal) could not start.
 */
export function commandError(failure: CommandFailure, startError: string, cause?: unknown): TortieError {
  const why = failure.timedOut
    ? 'timed out'
    : failure.signal !== null
      ? `was killed by ${failure.signal}`
      : failure.exitCode === null
        ? `could not start (${startError})`
        : `exited with ${failure.exitCode}`;
  return new TortieError('ERR_KERNEL', `${failure.command} ${why}${failure.stderr ? `: ${failure.stderr}` : ''}`, {
    cause,
    details: { ...failure },
  });
}

/** The CommandFailure carried by an ERR_KERNEL error, or null. */
export function commandFailureOf(err: unknown): CommandFailure | null {
  if (typeof err !== 'object' || err === null) return null;
  const details = (err as { details?: unknown }).details;
  if (typeof details !== 'object' || details === null) return null;
  const d = details as Partial<CommandFailure>;
  return typeof d.command === 'string' && typeof d.stderr === 'string' ? (d as CommandFailure) : null;
}
