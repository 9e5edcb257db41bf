import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../lib/log.js';
import { startCniTokenRenewal } from './run.js';

describe('startCniTokenRenewal', () => {
  const dirs: string[] = [];
  const timers: NodeJS.Timeout[] = [];
  afterEach(() => {
    for (const t of timers.splice(0)) clearInterval(t);
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const setup = () => {
    const root = mkdtempSync(join(tmpdir(), 'tortie-token-'));
    dirs.push(root);
    const netDir = join(root, 'net.d');
    const serviceAccountDir = join(root, 'sa');
    mkdirSync(netDir);
    mkdirSync(serviceAccountDir);
    return { netDir, serviceAccountDir, env: { CNI_NET_DIR: netDir, TORTIE_SERVICEACCOUNT_DIR: serviceAccountDir } };
  };
  const log = createLogger({ name: 'test', level: 'silent' });

  it('carries the kubelet\'s renewed service-account token to the file the plugin\'s kubeconfig names', async () => {
    const { netDir, serviceAccountDir, env } = setup();
    writeFileSync(join(netDir, 'tortie-token'), 'old\n');
    writeFileSync(join(serviceAccountDir, 'token'), 'first');
    const timer = startCniTokenRenewal(env, log, 20);
    expect(timer).not.toBeNull();
    timers.push(timer!);
    await expect.poll(() => readFileSync(join(netDir, 'tortie-token'), 'utf8')).toBe('first\n');
    writeFileSync(join(serviceAccountDir, 'token'), 'renewed');
    await expect.poll(() => readFileSync(join(netDir, 'tortie-token'), 'utf8')).toBe('renewed\n');
  });

  it('does nothing on a host where tortie cni install wrote no token file', () => {
    const { serviceAccountDir, env } = setup();
    writeFileSync(join(serviceAccountDir, 'token'), 'first');
    expect(startCniTokenRenewal(env, log, 20)).toBeNull();
  });
});
