import { mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.js';
import { statusCovers, waitForEndpointStatus, waitForPolicy } from './policy-wait.js';

const status = (interfaceName: string, addresses: string[]) => JSON.stringify({ endpoint: 'x/web', interfaceName, addresses });

describe('statusCovers', () => {
  it.each([
    { what: 'the interface with every address', content: status('tora', ['10.0.0.1', 'fd00::1']), covers: true },
    { what: 'an address missing (an earlier sandbox of the pod)', content: status('tora', ['10.0.0.9']), covers: false },
    { what: 'another interface', content: status('torb', ['10.0.0.1', 'fd00::1']), covers: false },
    { what: 'not JSON', content: '{"interfaceName":', covers: false },
    { what: 'no address list', content: JSON.stringify({ interfaceName: 'tora' }), covers: false },
  ])('$what: $covers', ({ content, covers }) => {
    expect(statusCovers(content, 'tora', ['10.0.0.1', 'fd00::1'])).toBe(covers);
  });
});

describe('waitForEndpointStatus', () => {
  let dir: string;
  beforeEach(async () => {
    dir = join(await mkdtemp(join(tmpdir(), 'tortie-wait-')), 'endpoint-status');
  });
  afterEach(async () => {
    await rm(join(dir, '..'), { recursive: true, force: true });
  });

  /** As felix writes: a temporary file renamed into place. */
  async function felixWrites(name: string, content: string): Promise<void> {
    await writeFile(join(dir, `.tmp-${name}`), content);
    await rename(join(dir, `.tmp-${name}`), join(dir, name));
  }

  it('returns as soon as the file appears, long before the timeout', async () => {
    const started = Date.now();
    const waiting = waitForEndpointStatus({ dir, interfaceName: 'tora', addresses: ['10.0.0.1'], timeoutMs: 10_000 });
    setTimeout(() => void felixWrites('tora', status('tora', ['10.0.0.1'])), 50);
    expect(await waiting).toBe('programmed');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('returns at once when the file is already there (written before the watch started)', async () => {
    await waitForEndpointStatus({ dir, interfaceName: 'other', addresses: [], timeoutMs: 1 });
    await felixWrites('tora', status('tora', ['10.0.0.1']));
    expect(await waitForEndpointStatus({ dir, interfaceName: 'tora', addresses: ['10.0.0.1'], timeoutMs: 10_000 })).toBe('programmed');
  });

  it('keeps waiting through a stale file of an earlier sandbox until felix rewrites it', async () => {
    await waitForEndpointStatus({ dir, interfaceName: 'other', addresses: [], timeoutMs: 1 });
    await felixWrites('tora', status('tora', ['10.0.0.9']));
    let settled = false;
    const waiting = waitForEndpointStatus({ dir, interfaceName: 'tora', addresses: ['10.0.0.1'], timeoutMs: 10_000 }).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBe(false);
    await felixWrites('tora', status('tora', ['10.0.0.1']));
    expect(await waiting).toBe('programmed');
  });

  it('gives up with timed-out after the timeout, and leaves no watch behind', async () => {
    const started = Date.now();
    expect(await waitForEndpointStatus({ dir, interfaceName: 'tora', addresses: ['10.0.0.1'], timeoutMs: 150 })).toBe('timed-out');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('waitForPolicy', () => {
  const log = createLogger({ level: 'silent', name: 'test' });
  const plan = { hostIfName: 'tora', addresses: [{ family: 4 as const, address: '10.0.0.1', prefixLength: 32 as const }] };

  it('does not wait, nor touch the directory, when policy_setup_timeout_seconds is 0', async () => {
    const dir = join(tmpdir(), `tortie-never-made-${process.pid}`);
    expect(await waitForPolicy({ policy_setup_timeout_seconds: 0, endpoint_status_dir: dir }, plan, log)).toBeNull();
    await expect(readdir(dir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a directory that cannot be made counts as a timeout, not a failed ADD', async () => {
    const base = await mkdtemp(join(tmpdir(), 'tortie-wait-'));
    try {
      await writeFile(join(base, 'file'), '');
      expect(await waitForPolicy({ policy_setup_timeout_seconds: 5, endpoint_status_dir: join(base, 'file', 'dir') }, plan, log)).toBe('timed-out');
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});
