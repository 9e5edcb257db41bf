import { describe, expect, it } from 'vitest';
import { hasErrorCode } from '../errors.js';
import { commandFailureOf, commandLine, formatCommand, runCommand } from './exec.js';

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('runCommand', () => {
  it('resolves to stdout and feeds input to stdin', async () => {
    expect(await runCommand('cat', [], { input: 'route add x\n' })).toBe('route add x\n');
  });

  it('rejects a non-zero exit with ERR_KERNEL naming the command and its stderr', async () => {
    const err = await rejection(runCommand('sh', ['-c', 'echo "Cannot find device" >&2; echo partial; exit 2']));
    expect(hasErrorCode(err, 'ERR_KERNEL')).toBe(true);
    expect((err as Error).message).toBe(`sh -c 'echo "Cannot find device" >&2; echo partial; exit 2' exited with 2: Cannot find device`);
    expect(commandFailureOf(err)).toEqual({
      command: `sh -c 'echo "Cannot find device" >&2; echo partial; exit 2'`,
      exitCode: 2,
      stderr: 'Cannot find device',
      stdout: 'partial\n',
      signal: null,
      timedOut: false,
    });
  });

  it('sets extra environment variables for the command', async () => {
    expect(await runCommand('sh', ['-c', 'printf %s "$CNI_COMMAND"'], { env: { CNI_COMMAND: 'DEL' } })).toBe('DEL');
  });

  it('rejects a binary that does not exist with ERR_KERNEL', async () => {
    const err = await rejection(runCommand('/nonexistent/tortie-no-such-binary', ['x']));
    expect(hasErrorCode(err, 'ERR_KERNEL')).toBe(true);
    expect((err as Error).message).toMatch(/^\/nonexistent\/tortie-no-such-binary x could not start/);
  });

  it('kills a command that outlives its timeout', async () => {
    const err = await rejection(runCommand('sleep', ['5'], { timeoutMs: 100 }));
    expect(commandFailureOf(err)?.timedOut).toBe(true);
    expect((err as Error).message).toMatch(/timed out/);
  });
});

describe('commandLine', () => {
  it('runs in another namespace through nsenter --net', () => {
    expect(commandLine('ip', ['link'], '/proc/42/ns/net')).toEqual(['nsenter', '--net=/proc/42/ns/net', '--', 'ip', 'link']);
    expect(commandLine('ip', ['link'])).toEqual(['ip', 'link']);
  });

  it('quotes only what a shell would need quoted', () => {
    expect(formatCommand(['ip', '-n', 'tt-1', 'link', 'set', 'it', "it's"])).toBe(`ip -n tt-1 link set it 'it'\\''s'`);
  });
});
