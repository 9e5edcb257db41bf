/**
 * `tortie node run` as the DaemonSet runs it: the built CLI inside a "host"
 * network namespace (its own interfaces, its own nftables), against a real
 * etcd forwarded into the namespace. It must register the node, run the BGP
 * speaker and the policy agent together, answer /readiness once the policy
 * table is programmed, serve the CNI plugin's socket, and stop on SIGTERM
 * with exit 0, leaving the table.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAnswering } from '../../../cni/src/agent/client.js';
import { createEtcdDatastore, type EtcdDatastore } from '../../../lib/datastore/etcd.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import type { NetnsRef } from '../../../lib/kernel/netns.js';
import { startEtcd, type EtcdInstance } from '../../harness/etcd.js';
import { createNetnsHarness, kernelAccessProblem, pollUntil, type NetnsHarness } from '../../harness/netns.js';
import { makeNodeHost } from './node-host.js';
import { stopProcess } from '../../harness/process.js';

const problem = await kernelAccessProblem();
if (problem !== null) console.warn(`skipping test/integration/cli/node-run.test.ts: ${problem}`);

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const HEALTH_PORT = 9399;

describe.skipIf(problem !== null)('tortie node run', () => {
  let h: NetnsHarness;
  let etcd: EtcdInstance;
  let store: EtcdDatastore;
  let host: NetnsRef;
  let dir: string;

  beforeAll(async () => {
    h = createNetnsHarness();
    etcd = await startEtcd();
    store = createEtcdDatastore({ endpoints: [etcd.endpoint] });
    dir = await mkdtemp(join(tmpdir(), 'tortie-node-run-'));
    host = await makeNodeHost(h, etcd, 'nrun', ['192.0.2.20/24']);
  }, 60_000);

  afterAll(async () => {
    await store?.close();
    await h?.cleanup();
    await etcd?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const httpStatus = async (path: string): Promise<number> => {
    const script = `fetch('http://127.0.0.1:${HEALTH_PORT}${path}').then((r) => console.log(r.status), () => console.log(0))`;
    return Number((await h.exec(host, process.execPath, ['-e', script])).trim());
  };

  it('registers the node, runs the speaker and the policy agent, is ready, and stops on SIGTERM leaving the rules', async () => {
    const statusFile = join(dir, 'bgp-status.json');
    const cniSocket = join(dir, 'cni', 'cni.sock');
    const child = h.spawnIn(host, '/usr/bin/env', [
      '-i', `PATH=${process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`, `ETCD_ENDPOINTS=${etcd.endpoint}`, 'NODENAME=node-r', 'AS=64512',
      'CALICO_IPV4POOL_CIDR=10.245.0.0/16', 'CALICO_IPV4POOL_IPIP=Never', `FELIX_HEALTHPORT=${HEALTH_PORT}`, 'FELIX_HEALTHHOST=127.0.0.1',
      `TORTIE_STATUS_FILE=${statusFile}`, 'TORTIE_BGP_LISTEN_ADDRESS=192.0.2.20', `TORTIE_CNI_SOCKET=${cniSocket}`, `FELIX_ENDPOINTSTATUSPATHPREFIX=${dir}`,
      process.execPath, join(repo, 'dist/cli/src/main.js'), 'node', 'run', '--nodename-file', join(dir, 'nodename'),
    ]);
    let output = '';
    child.stdout?.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (output += b.toString()));
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    try {
      await pollUntil('/readiness answers 200', async () => (await httpStatus('/readiness')) === 200, { timeoutMs: 30_000 }).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}\n--- node run ---\n${output}`);
      });
      expect(await httpStatus('/liveness')).toBe(200);
      expect((await store.get(Kinds.Node, 'node-r'))?.spec).toMatchObject({ bgp: { ipv4Address: '192.0.2.20/24', asNumber: 64512 } });
      expect(await store.get(Kinds.IPPool, 'default-ipv4-ippool')).not.toBeNull();
      expect(await h.exec(host, 'nft', ['list', 'table', 'inet', 'tortie'])).toMatch(/chain /);
      expect(await isAnswering(cniSocket)).toBe(true);
      await pollUntil('the speaker writes its status and listens on 179', async () => {
        const status = JSON.parse(await readFile(statusFile, 'utf8').catch(() => '{}')) as { node?: string; localAsn?: number };
        return status.node === 'node-r' && status.localAsn === 64512 && (await h.exec(host, 'ss', ['-Hltn', 'sport = :179'])).includes('192.0.2.20:179');
      }, { timeoutMs: 20_000 });

      process.kill(child.pid!, 'SIGTERM');
      expect(await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 15_000))])).toBe(0);
      expect(await h.exec(host, 'nft', ['list', 'table', 'inet', 'tortie'])).toMatch(/chain /);
      expect(existsSync(cniSocket)).toBe(false);
    } finally {
      await stopProcess(child);
    }
  }, 90_000);
});
