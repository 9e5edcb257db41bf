import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { hasErrorCode } from './errors.js';
import { createLogger } from './log.js';

describe('createLogger', () => {
  it('honours the level option over LOG_LEVEL', () => {
    expect(createLogger({ level: 'debug' }).level).toBe('debug');
  });

  it('refuses an unknown level with ERR_CONFIG_INVALID', () => {
    let caught: unknown;
    try {
      createLogger({ level: 'loud' });
    } catch (err) {
      caught = err;
    }
    expect(hasErrorCode(caught, 'ERR_CONFIG_INVALID')).toBe(true);
  });

  it('writes JSON lines to stderr and nothing to stdout', () => {
    const script = `import { createLogger } from './lib/log.ts'; createLogger({ name: 't' }).info({ peer: 'x' }, 'peer state changed'); createLogger().debug('hidden');`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: new URL('..', import.meta.url).pathname,
      env: { ...process.env, LOG_LEVEL: 'info' },
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(child.status).toBe(0);
    expect(child.stdout).toBe('');
    const lines = child.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'info', name: 't', peer: 'x', msg: 'peer state changed' });
  });
});
