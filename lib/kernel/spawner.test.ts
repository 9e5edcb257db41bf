import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hasErrorCode } from '../errors.js';
import { commandFailureOf, runCommand } from './exec.js';
import { failedBatchLine } from './ip.js';
import { decodeSpawnResponse, encodeSpawnRequest } from './spawner-frame.js';
import { defaultSpawnerBinary, startSpawner, type Spawner } from './spawner.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
const hasGcc = (() => {
  try {
    execFileSync('gcc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    // No compiler: the helper cannot be built here, and the agent would fall back to runCommand.
    return false;
  }
})();

/** The rejection's error (a resolved value instead fails the assertions that follow, which all expect an error). */
const rejection = (p: Promise<unknown>): Promise<unknown> => p.catch((err: unknown) => err);

describe('spawner frames', () => {
  it('encodes every field with its length, in order', () => {
    const frame = encodeSpawnRequest({ id: 7, timeoutMs: 1500, netns: '/run/netns/a', argv: ['ip', '-batch', '-'], env: { A: 'b' }, input: 'x\n' });
    const words: Array<number | string> = [];
    let at = 4;
    const u32 = (): number => {
      const n = frame.readUInt32BE(at);
      at += 4;
      return n;
    };
    const str = (): string => {
      const n = u32();
      const s = frame.toString('utf8', at, at + n);
      at += n;
      return s;
    };
    words.push(u32(), u32(), str());
    const argc = u32();
    for (let i = 0; i < argc; i++) words.push(str());
    const envc = u32();
    for (let i = 0; i < envc; i++) words.push(str());
    words.push(str());
    expect(frame.readUInt32BE(0)).toBe(frame.length - 4);
    expect(at).toBe(frame.length);
    expect(words).toEqual([7, 1500, '/run/netns/a', 'ip', '-batch', '-', 'A=b', 'x\n']);
  });

  it('refuses what a C string cannot carry', () => {
    expect(() => encodeSpawnRequest({ id: 1, timeoutMs: 0, netns: null, argv: ['a\0b'], env: {}, input: '' })).toThrow(TypeError);
    expect(() => encodeSpawnRequest({ id: 1, timeoutMs: 0, netns: null, argv: [], env: {}, input: '' })).toThrow(TypeError);
  });

  it.each([
    ['a short header', Buffer.alloc(5)],
    ['an unknown outcome', Buffer.from([0, 0, 0, 1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])],
    ['an output running past the frame', Buffer.from([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0])],
    ['bytes after the outputs', Buffer.from([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])],
  ])('reports %s as malformed, never throwing', (_name, body) => {
    expect(decodeSpawnResponse(body).ok).toBe(false);
  });
});

describe.skipIf(!hasGcc)('spawner (tortie-spawner built from lib/kernel/tortie-spawner.c)', () => {
  let dir: string;
  let binary: string;
  const started: Spawner[] = [];
  const spawner = async (maxHelpers?: number): Promise<Spawner> => {
    const s = await startSpawner({ binary, ...(maxHelpers === undefined ? {} : { maxHelpers }) });
    if (s === null) throw new Error(`${binary} is missing`);
    started.push(s);
    return s;
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tortie-spawner-test-'));
    binary = join(dir, 'tortie-spawner');
    execFileSync('sh', [join(repo, 'lib/kernel/build-spawner.sh'), binary], { stdio: 'inherit' });
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.close()));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds the built helper in dist/ when it runs from source', () => {
    expect(defaultSpawnerBinary()).toBe(join(repo, 'dist/lib/kernel/tortie-spawner'));
  });

  it('is null when its helper is not built or cannot run, so the caller keeps runCommand', async () => {
    expect(await startSpawner({ binary: join(dir, 'absent') })).toBeNull();
    writeFileSync(join(dir, 'not-executable'), '');
    expect(await startSpawner({ binary: join(dir, 'not-executable') })).toBeNull();
  });

  it('resolves to stdout and feeds input to stdin, as runCommand does', async () => {
    const { run } = await spawner();
    expect(await run('cat', [], { input: 'route add x\n' })).toBe('route add x\n');
    expect(await run('sh', ['-c', 'printf "%s" "$TORTIE_X"'], { env: { TORTIE_X: 'y z' } })).toBe('y z');
  });

  it('passes input larger than a pipe buffer while the command prints as much', async () => {
    const { run } = await spawner();
    const input = 'a'.repeat(1024 * 1024);
    expect(await run('cat', [], { input })).toBe(input);
  });

  it.each([
    ['a non-zero exit', 'sh', ['-c', 'echo "Cannot find device" >&2; echo partial; exit 2']],
    ['a command that cannot start', 'tortie-no-such-command', []],
    ['a command killed by a signal', 'sh', ['-c', 'kill -TERM $$']],
  ])('fails %s with the same ERR_KERNEL message and details as runCommand', async (_name, file, args) => {
    const { run } = await spawner();
    const ours = await rejection(run(file, args));
    const theirs = await rejection(runCommand(file, args));
    expect(hasErrorCode(ours, 'ERR_KERNEL')).toBe(true);
    if (file === 'tortie-no-such-command') {
      // Only the start error's wording differs (execa's "spawn X ENOENT" against exec's strerror).
      expect((ours as Error).message).toBe('tortie-no-such-command could not start (exec tortie-no-such-command: No such file or directory)');
      expect(commandFailureOf(ours)).toEqual(commandFailureOf(theirs));
      return;
    }
    expect((ours as Error).message).toBe((theirs as Error).message);
    expect(commandFailureOf(ours)).toEqual(commandFailureOf(theirs));
  });

  it('kills a command at its timeout and says so', async () => {
    const { run } = await spawner();
    const err = await rejection(run('sleep', ['5'], { timeoutMs: 100 }));
    expect((err as Error).message).toBe('sleep 5 timed out');
    expect(commandFailureOf(err)).toMatchObject({ timedOut: true, signal: 'SIGKILL', exitCode: null });
  });

  it('reports the failed line of an ip batch as runCommand does', async () => {
    const { run } = await spawner();
    const err = await rejection(run('sh', ['-c', 'cat >/dev/null; echo "Command failed -:2" >&2; exit 1'], { input: 'a\nb\n' }));
    expect(failedBatchLine(err)).toBe(2);
  });

  it('names a namespace it cannot enter as a command that could not start', async () => {
    const { run } = await spawner();
    const err = await rejection(run('true', [], { netns: join(dir, 'no-such-netns') }));
    expect((err as Error).message).toBe(`nsenter --net=${join(dir, 'no-such-netns')} -- true could not start (open ${join(dir, 'no-such-netns')}: No such file or directory)`);
  });

  it('runs commands side by side, up to maxHelpers at once', async () => {
    const s = await spawner(3);
    const started = Date.now();
    const outs = await Promise.all(Array.from({ length: 6 }, (_, i) => s.run('sh', ['-c', `sleep 0.3; echo ${i}`])));
    expect(outs).toEqual(['0\n', '1\n', '2\n', '3\n', '4\n', '5\n']);
    expect(s.helperPids()).toHaveLength(3);
    // Two waves of 0.3 s, not one (six at once) nor six (one at a time).
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
  });

  it('fails the command in flight when its helper is killed mid-stream, and the next command gets a new helper', async () => {
    const s = await spawner(1);
    expect(await s.run('echo', ['warm'])).toBe('warm\n');
    const [pid] = s.helperPids();
    const inFlight = rejection(s.run('sh', ['-c', 'sleep 5; echo late']));
    const queued = s.run('echo', ['after']);
    // Let the request reach the helper before killing it.
    await new Promise((resolve) => setTimeout(resolve, 100));
    process.kill(pid as number, 'SIGKILL');
    const err = await inFlight;
    expect(hasErrorCode(err, 'ERR_KERNEL')).toBe(true);
    expect((err as Error).message).toBe(`sh -c 'sleep 5; echo late' did not complete: its tortie-spawner (pid ${pid}) was killed by SIGKILL`);
    expect(failedBatchLine(err)).toBeNull();
    expect(await queued).toBe('after\n');
    expect(s.helperPids()).toHaveLength(1);
    expect(s.helperPids()[0]).not.toBe(pid);
  });

  it('refuses commands once closed', async () => {
    const s = await spawner();
    await s.run('true', []);
    await s.close();
    expect(s.helperPids()).toEqual([]);
    expect(hasErrorCode(await rejection(s.run('true', [])), 'ERR_KERNEL')).toBe(true);
  });
});
