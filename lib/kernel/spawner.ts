/**
 * A `CommandRunner` for long-lived processes (the CNI agent) that never forks
 * the Node process: commands are run by small helper processes
 * (tortie-spawner.c), each running one command at a time, over pipes.
 *
 * Why: `child_process.spawn` forks the whole Node process; for an ~80 MB agent
 * that is ~6 ms of its single thread's CPU per command (27 % of the agent's
 * busy time when it ran two `ip -batch` per ADD). A helper forks itself
 * (~1 MB) instead, on its own CPU, so the agent's cost per command is a pipe
 * write and read.
 *
 * Same contract as `runCommand` (exec.ts): stdout on success, else ERR_KERNEL
 * with the same message and `CommandFailure` details; `netns` enters the
 * namespace as `nsenter --net=` does (setns only), and messages name the
 * command as `runCommand` would have run it.
 *
 * Helpers start on demand, up to `maxHelpers` at once, and stay. A helper that
 * dies (killed, crashed) fails the one command it was running with ERR_KERNEL,
 * whose caller undoes or retries as for any failed command; the next command
 * starts a new helper. A helper's commands die with it (PR_SET_PDEATHSIG), and
 * a helper dies with this process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { TortieError } from '../errors.js';
import { FrameReader } from '../frame-reader.js';
import type { Logger } from '../log.js';
import { commandError, commandLine, DEFAULT_TIMEOUT_MS, formatCommand, type CommandFailure, type CommandRunner } from './exec.js';
import { decodeSpawnResponse, encodeSpawnRequest, MAX_SPAWN_RESPONSE_BYTES, type SpawnRequest, type SpawnResponse } from './spawner-frame.js';

/** Where the build puts the helper (lib/kernel/build-spawner.sh): beside this module in dist/, or in dist/ when this runs from source (tsx). */
export function defaultSpawnerBinary(): string {
  const beside = fileURLToPath(new URL('./tortie-spawner', import.meta.url));
  if (!import.meta.url.endsWith('.ts') || existsSync(beside)) return beside;
  return fileURLToPath(new URL('../../dist/lib/kernel/tortie-spawner', import.meta.url));
}

export interface SpawnerOptions {
  /** The tortie-spawner executable. Default: `defaultSpawnerBinary()`. */
  binary?: string;
  /** Most helpers (so commands) running at once. Default 8: commands mostly wait on the kernel (a veth deletion waits ~25 ms), not on a CPU. */
  maxHelpers?: number;
  log?: Logger;
}

export interface Spawner {
  /** Runs a command through a helper: the same results and errors as `runCommand`. */
  readonly run: CommandRunner;
  /** Process ids of the helpers alive now (for tests and diagnostics). */
  helperPids(): number[];
  /** Ends every helper once its command (if any) completes; later commands are refused. */
  close(): Promise<void>;
}

/** How much longer than a command's own timeout a helper may take to answer before it is presumed stuck and killed. */
const HELPER_GRACE_MS = 10_000;

const SIGNAL_NAMES = new Map<number, string>(Object.entries(constants.signals).map(([name, n]) => [n, name]));

interface InFlight {
  id: number;
  command: string;
  resolve(response: SpawnResponse): void;
  reject(err: TortieError): void;
  timer: NodeJS.Timeout;
}

/** One tortie-spawner process: one command at a time. */
class SpawnerHelper {
  readonly #child: ChildProcess;
  readonly #reader = new FrameReader(MAX_SPAWN_RESPONSE_BYTES);
  #inFlight: InFlight | null = null;
  #exitReason: string | null = null;
  #resolveGone: () => void = () => {};
  /** Resolves once the helper has exited (and failed its command in flight, if any). */
  readonly whenGone = new Promise<void>((resolve) => {
    this.#resolveGone = resolve;
  });
  isReserved = false;

  constructor(
    binary: string,
    private readonly log: Logger | undefined,
    private readonly onGone: (helper: SpawnerHelper) => void,
  ) {
    this.#child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    this.#child.stdout?.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.#child.stderr?.on('data', (chunk: Buffer) => log?.warn({ pid: this.#child.pid, stderr: chunk.toString('utf8').trim() }, 'tortie-spawner wrote to stderr'));
    // Writing to a helper that just died: its 'close' below fails the command.
    this.#child.stdin?.on('error', (err) => log?.debug({ err }, 'tortie-spawner stdin error'));
    this.#child.on('error', (err) => this.#gone(`could not be started or signalled (${err.message})`));
    this.#child.on('close', (code, signal) => this.#gone(signal === null ? `exited with ${code}` : `was killed by ${signal}`));
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get isAlive(): boolean {
    return this.#exitReason === null;
  }

  send(request: SpawnRequest, command: string, guardMs: number): Promise<SpawnResponse> {
    return new Promise((resolve, reject) => {
      if (this.#exitReason !== null) {
        reject(this.#helperFailure(command, this.#exitReason));
        return;
      }
      const timer = setTimeout(() => {
        this.log?.warn({ pid: this.pid, command }, 'tortie-spawner did not answer in time; killing it');
        this.#child.kill('SIGKILL');
      }, guardMs);
      this.#inFlight = { id: request.id, command, resolve, reject, timer };
      this.#child.stdin?.write(encodeSpawnRequest(request));
    });
  }

  kill(): void {
    this.#child.kill('SIGKILL');
  }

  /** Ends the helper after the command it runs, if any (it exits at the end of its input). */
  end(): void {
    this.#child.stdin?.end();
  }

  #onData(chunk: Buffer): void {
    const frames = this.#reader.push(chunk);
    if (!frames.ok) return this.#broken(frames.reason);
    for (const body of frames.value) {
      const decoded = decodeSpawnResponse(body);
      const inFlight = this.#inFlight;
      if (!decoded.ok) return this.#broken(decoded.reason);
      if (inFlight === null || decoded.value.id !== inFlight.id) return this.#broken(`answer ${decoded.value.id} to no request in flight`);
      this.#inFlight = null;
      clearTimeout(inFlight.timer);
      inFlight.resolve(decoded.value);
    }
  }

  /** A helper that speaks nonsense is a bug: kill it; its 'close' fails the command in flight. */
  #broken(reason: string): void {
    this.log?.error({ pid: this.pid, reason }, 'tortie-spawner answered with a malformed frame; killing it');
    this.#child.kill('SIGKILL');
  }

  #gone(reason: string): void {
    if (this.#exitReason !== null) return;
    this.#exitReason = reason;
    const inFlight = this.#inFlight;
    this.#inFlight = null;
    if (inFlight !== null) {
      clearTimeout(inFlight.timer);
      inFlight.reject(this.#helperFailure(inFlight.command, reason));
    }
    this.onGone(this);
    this.#resolveGone();
  }

  #helperFailure(command: string, reason: string): TortieError {
    const failure: CommandFailure = { command, exitCode: null, stderr: '', stdout: '', signal: null, timedOut: false };
    return new TortieError('ERR_KERNEL', `${command} did not complete: its tortie-spawner (pid ${this.pid ?? 'none'}) ${reason}`, {
      details: { ...failure, reason: 'spawner-gone' },
    });
  }
}

/**
 * The spawner, once it has run a first command (`true`); null when its helper
 * is not built (no gcc at build time) or cannot run one (not executable, say):
 * the caller then uses `runCommand`, rather than failing every command later.
 */
export async function startSpawner(options: SpawnerOptions = {}): Promise<Spawner | null> {
  const binary = options.binary ?? defaultSpawnerBinary();
  if (!existsSync(binary)) return null;
  const spawner = createSpawner(binary, options);
  try {
    await spawner.run('true', []);
  } catch (err) {
    options.log?.warn({ err, binary }, 'tortie-spawner cannot run a command');
    await spawner.close();
    return null;
  }
  return spawner;
}

function createSpawner(binary: string, options: SpawnerOptions): Spawner {
  const maxHelpers = options.maxHelpers ?? 8;
  const helpers = new Set<SpawnerHelper>();
  const waiting: Array<() => void> = [];
  let nextId = 1;
  let isClosed = false;

  const wakeOne = (): void => waiting.shift()?.();
  const onGone = (helper: SpawnerHelper): void => {
    helpers.delete(helper);
    if (!isClosed) options.log?.warn({ pid: helper.pid }, 'a tortie-spawner helper is gone; the next command starts another');
    wakeOne();
  };

  async function acquire(): Promise<SpawnerHelper> {
    for (;;) {
      if (isClosed) throw new TortieError('ERR_KERNEL', 'the spawner is closed');
      for (const helper of helpers) {
        if (!helper.isReserved && helper.isAlive) {
          helper.isReserved = true;
          return helper;
        }
      }
      if (helpers.size < maxHelpers) {
        const helper = new SpawnerHelper(binary, options.log, onGone);
        helpers.add(helper);
        helper.isReserved = true;
        return helper;
      }
      await new Promise<void>((resolve) => waiting.push(resolve));
    }
  }

  function release(helper: SpawnerHelper): void {
    helper.isReserved = false;
    wakeOne();
  }

  const run: CommandRunner = async (file, args, runOptions = {}) => {
    const command = formatCommand(commandLine(file, args, runOptions.netns));
    const timeoutMs = runOptions.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const request: SpawnRequest = {
      id: nextId,
      timeoutMs,
      netns: runOptions.netns ?? null,
      argv: [file, ...args],
      env: runOptions.env ?? {},
      input: runOptions.input ?? '',
    };
    nextId = nextId >= 0xffffffff ? 1 : nextId + 1;
    const helper = await acquire();
    let response: SpawnResponse;
    try {
      response = await helper.send(request, command, timeoutMs + HELPER_GRACE_MS);
    } finally {
      release(helper);
    }
    const stdout = response.stdout.toString('utf8');
    if (response.outcome === 'exited' && response.value === 0) return stdout;
    const failure: CommandFailure = {
      command,
      exitCode: response.outcome === 'exited' ? response.value : null,
      stderr: response.outcome === 'not-started' ? '' : response.stderr.toString('utf8').trim(),
      stdout,
      signal: response.outcome === 'killed' || response.outcome === 'timed-out' ? (SIGNAL_NAMES.get(response.value) ?? `signal ${response.value}`) : null,
      timedOut: response.outcome === 'timed-out',
    };
    throw commandError(failure, response.stderr.toString('utf8').trim());
  };

  return {
    run,
    helperPids: () => [...helpers].flatMap((h) => (h.isAlive && h.pid !== undefined ? [h.pid] : [])),
    async close() {
      isClosed = true;
      for (const resolve of waiting.splice(0)) resolve();
      for (const helper of helpers) helper.end();
      await Promise.all([...helpers].map((h) => h.whenGone));
    },
  };
}
