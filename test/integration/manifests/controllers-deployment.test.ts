/**
 * The tortie-kube-controllers Deployment's container as tortie.yaml
 * configures it: the built CLI runs its command with its environment against
 * the in-repo API server (KUBECONFIG in place of the in-cluster account; the
 * only other change is a health log every second instead of every minute, to
 * see it sooner). Both controllers must get in sync, every request must be
 * allowed by the roles tortie.yaml binds to the Deployment's account, and
 * SIGTERM must stop it with exit 0. Needs `npm run build`; no root.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeApiServer } from '../../harness/fake-apiserver.js';
import { pollUntil } from '../../harness/netns.js';
import { stopProcess } from '../../harness/process.js';
import { checkRoles } from '../../harness/rbac.js';
import { repo, rolesBoundTo, workloadContainer } from './tortie-yaml.test-helpers.js';

const CLI = join(repo, 'dist/cli/src/main.js');
const { container, serviceAccount, env: manifestEnv } = workloadContainer('Deployment', 'tortie-kube-controllers', 'tortie-kube-controllers', 'node-1');

describe.skipIf(!existsSync(CLI))('the tortie-kube-controllers container of tortie.yaml (npm run build first)', () => {
  let api: FakeApiServer;
  let dir: string;
  beforeAll(async () => {
    api = await FakeApiServer.start();
    dir = await mkdtemp(join(tmpdir(), 'tt-kc-'));
  });
  afterAll(async () => {
    await api?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('gets both controllers in sync, asks only for what its roles allow, and stops on SIGTERM', async () => {
    expect(container.command[0]).toBe('tortie');
    const child = spawn(process.execPath, [CLI, ...container.command.slice(1)], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...manifestEnv, KUBECONFIG: await api.writeKubeconfig(dir, { user: serviceAccount }), HEALTH_LOG_INTERVAL: '1s' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    try {
      await pollUntil('all controllers in sync', async () => output.includes('all controllers in sync'), { timeoutMs: 30_000 }).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}\n--- tortie kube-controllers ---\n${output}`);
      });
      // ENABLED_CONTROLLERS=node,ipam: both loops run.
      expect(output).toContain('"controllers":["node-cleanup","ipam-gc"]');
      const requests = api.requests.filter((r) => r.user === serviceAccount);
      expect(requests.length).toBeGreaterThan(0);
      expect(rolesBoundTo(serviceAccount).map((r) => r.metadata.name)).toEqual(['tortie-kube-controllers']);
      expect(checkRoles(rolesBoundTo(serviceAccount), requests).denied, "requests the manifest's roles do not allow").toEqual([]);
      child.kill('SIGTERM');
      expect(await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 15_000))])).toBe(0);
    } finally {
      await stopProcess(child);
    }
  }, 60_000);
});
