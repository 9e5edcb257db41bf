import { connect } from 'node:net';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TORTIE_API_VERSION } from '../../../lib/contract.js';
import { createMemoryDatastore } from '../../../lib/datastore/memory.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import type { Datastore } from '../../../lib/datastore/types.js';
import type { IpRunner } from '../../../lib/kernel/ip.js';
import { createLogger } from '../../../lib/log.js';
import type { DatapathRunners } from '../attach.js';
import { runCni } from '../run.js';
import { specProblems } from '../testdata/schemas.js';
import { askAgent } from './client.js';
import { encodeRequest } from './frame.js';
import { startCniAgent, type CniAgent } from './server.js';

// The agent without root: a memory datastore and a kernel that accepts every
// command. The same through the built executables, real etcd and the real
// kernel is test/integration/cni/agent.test.ts.

const NETNS = '/run/netns/agent-unit';
const log = createLogger({ level: 'silent' });

function acceptingKernel(): DatapathRunners {
  const runner = (): IpRunner => ({
    netns: null,
    inNetns: () => runner(),
    links: async () => [],
    link: async () => null,
    addresses: async () => [],
    routes: async () => [],
    neighbours: async () => [],
    batch: async () => {},
  });
  return { ip: runner(), sysctl: { read: async () => '1', write: async () => {} }, netnsExists: async (path) => path === NETNS };
}

const conf = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'net', type: 'tortie', datastore_type: 'etcdv3', etcd_endpoints: 'http://127.0.0.1:1', nodename: 'node1', mtu: 1400, ipam: { type: 'tortie-ipam' }, ...extra });
const env = (command: string, containerId: string) => ({ CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_NETNS: NETNS, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' });

async function poolStore(): Promise<Datastore> {
  const ds = createMemoryDatastore();
  await ds.create(Kinds.IPPool, { apiVersion: TORTIE_API_VERSION, kind: 'IPPool', metadata: { name: 'p' }, spec: { cidr: '10.250.0.0/24', blockSize: 26 } });
  return ds;
}

/** Sends raw bytes, returns what came back before the agent closed the connection. */
function rawExchange(socketPath: string, bytes: Buffer, endAfterWrite = true): Promise<Buffer> {
  return new Promise((resolve) => {
    const s = connect(socketPath, () => (endAfterWrite ? s.end(bytes) : s.write(bytes)));
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    s.on('error', () => {});
    s.on('close', () => resolve(Buffer.concat(got)));
  });
}

describe('CNI agent', () => {
  let dir: string;
  let agent: CniAgent | null = null;
  afterEach(async () => {
    await agent?.close();
    agent = null;
    await rm(dir, { recursive: true, force: true });
  });

  async function start(datastoreFor: () => Promise<Datastore | null>, extra: { frameTimeoutMs?: number; maxFrameBytes?: number } = {}) {
    dir = await mkdtemp(join(tmpdir(), 'tortie-agent-unit-'));
    agent = await startCniAgent({ log, socketPath: join(dir, 'sub', 'cni.sock'), datastoreFor, runners: acceptingKernel(), ...extra });
    return agent;
  }

  it('answers ADD with what runCni prints, keeps the datastore open, and DEL releases', async () => {
    const ds = await poolStore();
    const a = await start(async () => ds);
    const add = await askAgent(a.socketPath, { env: env('ADD', 'c1'), stdin: Buffer.from(conf()) });
    expect(add.served).toBe(true);
    if (!add.served) return;
    expect(add.exitCode).toBe(0);
    const result = JSON.parse(Buffer.from(add.stdout).toString()) as { ips: { address: string }[] };
    expect(specProblems('result', result)).toEqual([]);
    expect(result.ips[0]?.address).toBe('10.250.0.0/32');
    // A repeated ADD is answered the same (idempotent), by the warm datastore.
    const again = await askAgent(a.socketPath, { env: env('ADD', 'c1'), stdin: Buffer.from(conf()) });
    expect(again.served && Buffer.from(again.stdout).toString()).toBe(Buffer.from(add.stdout).toString());
    const del = await askAgent(a.socketPath, { env: env('DEL', 'c1'), stdin: Buffer.from(conf()) });
    expect(del).toEqual({ served: true, exitCode: 0, stdout: Buffer.alloc(0) });
    expect((await ds.list(Kinds.IPAMHandle)).items).toEqual([]);
  });

  it('errors are the plugin\'s own CNI error objects, as runCni gives them', async () => {
    const a = await start(async () => poolStore());
    const bad = conf({ datastore_type: 'consul' });
    const viaAgent = await askAgent(a.socketPath, { env: env('ADD', 'c2'), stdin: Buffer.from(bad) });
    const direct = await runCni(env('ADD', 'c2'), bad, async () => {
      throw new Error('not reached');
    }, { log });
    expect(viaAgent).toEqual({ served: true, exitCode: 1, stdout: Buffer.from(`${direct.stdout}\n`) });
  });

  it('a config this agent does not serve is answered "not served", and the plugin does the job itself', async () => {
    const a = await start(async () => null);
    const answer = await askAgent(a.socketPath, { env: env('ADD', 'c3'), stdin: Buffer.from(conf()) });
    expect(answer).toMatchObject({ served: false, reason: expect.stringContaining('does not serve') });
  });

  it('the socket is 0600 in a 0700 directory it made', async () => {
    const a = await start(async () => poolStore());
    expect((await stat(a.socketPath)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'sub'))).mode & 0o777).toBe(0o700);
  });

  it('survives malformed, oversized, silent and half-sent frames, and serves the next request', async () => {
    const ds = await poolStore();
    const a = await start(async () => ds, { frameTimeoutMs: 200, maxFrameBytes: 4096 });
    const huge = Buffer.alloc(8);
    huge.writeUInt32BE(0xffffffff);
    expect(await rawExchange(a.socketPath, huge)).toEqual(Buffer.alloc(0));
    expect(await rawExchange(a.socketPath, Buffer.from('00000003ffffff', 'hex'))).toEqual(Buffer.alloc(0));
    expect(await rawExchange(a.socketPath, Buffer.from('GET / HTTP/1.1\r\n\r\n'))).toEqual(Buffer.alloc(0));
    // Half a frame, then silence: dropped after frameTimeoutMs.
    expect(await rawExchange(a.socketPath, Buffer.from('0000001001', 'hex'), false)).toEqual(Buffer.alloc(0));
    const add = await askAgent(a.socketPath, { env: env('ADD', 'c4'), stdin: Buffer.from(conf()) });
    expect(add).toMatchObject({ served: true, exitCode: 0 });
  });

  it('a plugin that disconnects mid-request does not cancel it: the work completes, and the retry gets the same answer', async () => {
    const ds = await poolStore();
    const a = await start(async () => ds);
    const frame = encodeRequest({ env: env('ADD', 'c6'), stdin: Buffer.from(conf()) });
    await new Promise<void>((resolve) => {
      const s = connect(a.socketPath, () => s.end(frame, () => {
        s.destroy();
        resolve();
      }));
    });
    const deadline = Date.now() + 5_000;
    while ((await ds.list(Kinds.WorkloadEndpoint)).items.length === 0 || a.inFlight > 0) {
      if (Date.now() > deadline) throw new Error('the abandoned ADD never completed');
      await new Promise((r) => setTimeout(r, 10));
    }
    const handles = (await ds.list(Kinds.IPAMHandle)).items;
    expect(handles).toHaveLength(1);
    const retry = await askAgent(a.socketPath, { env: env('ADD', 'c6'), stdin: Buffer.from(conf()) });
    expect(retry.served && (JSON.parse(Buffer.from(retry.stdout).toString()) as { ips: { address: string }[] }).ips[0]?.address).toBe('10.250.0.0/32');
    expect((await ds.list(Kinds.IPAMHandle)).items).toEqual(handles);
  });

  it('a second agent on the same socket is refused while the first answers', async () => {
    const a = await start(async () => poolStore());
    await expect(startCniAgent({ log, socketPath: a.socketPath, runners: acceptingKernel() })).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
  });

  it('no agent is "not served" (the plugin then does the job itself)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tortie-agent-unit-'));
    expect(await askAgent(join(dir, 'none.sock'), { env: env('ADD', 'c5'), stdin: Buffer.from(conf()) })).toEqual({ served: false, reason: 'ENOENT' });
  });
});
