/**
 * The CNI fast path through the real executables, as a runtime calls them:
 * the C shim (dist/cni/shim/tortie-cni, installed as `tortie` in CNI_PATH)
 * and the Node plugin (dist/cni/src/main.js) ask the agent (`tortie
 * cni-agent`, a real process) over its Unix socket, and do the whole job
 * themselves when it does not answer. Real etcd, real kernel.
 *
 * Needs `npm run build` first (it builds the shim too).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { randomInt } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TORTIE_API_VERSION } from '../../../lib/contract.js';
import { createEtcdDatastore, type EtcdDatastore } from '../../../lib/datastore/etcd.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import type { NetnsRef } from '../../../lib/kernel/netns.js';
import { isAnswering } from '../../../cni/src/agent/client.js';
import type { IpamBlockObject } from '../../../cni/src/ipam/block-store.js';
import { hostVethName } from '../../../cni/src/plan.js';
import { specProblems } from '../../../cni/src/testdata/schemas.js';
import { ETCD_BINARY, startEtcd, type EtcdInstance } from '../../harness/etcd.js';
import { createNetnsHarness, keepGatewayRouteAsFound, kernelAccessProblem, pollUntil, uniqueName } from '../../harness/netns.js';
import { stopProcess } from '../../harness/process.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const NODE_PLUGIN = join(repo, 'dist/cni/src/main.js');
const SHIM = join(repo, 'dist/cni/shim/tortie-cni');
const CLI = join(repo, 'dist/cli/src/main.js');
const NODE = 'tt-agent-node';
const NETWORK = 'k8s-pod-network';

const problem =
  (await kernelAccessProblem()) ??
  (existsSync(ETCD_BINARY) ? null : `${ETCD_BINARY} is missing (Debian package etcd-server)`) ??
  (existsSync(SHIM) ? null : `${SHIM} is missing: run \`npm run build\` with gcc installed (scripts/setup.sh)`);
if (problem !== null) console.warn(`skipping test/integration/cni/agent.test.ts: ${problem}`);

const subnet = randomInt(1, 250);
const POOL_CIDR = `10.250.${subnet}.0/24`;

type Variant = 'shim' | 'node' | 'node-no-agent';

/** The agent's tortie-spawner helpers: its children by that name (/proc/PID/stat: "pid (comm) state ppid ..."). */
async function spawnerPidsOf(agentPid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const m = /^(\d+) \((.*)\) \S+ (\d+)/.exec(stat);
    if (m !== null && m[2] === 'tortie-spawner' && Number(m[3]) === agentPid) pids.push(Number(m[1]));
  }
  return pids;
}

interface CniCall {
  exitCode: number;
  stdout: string;
  stderr: string;
  json: Record<string, unknown> | null;
}

interface Pod {
  ns: NetnsRef;
  containerId: string;
  podName: string;
  env: Record<string, string>;
}

if (problem === null) keepGatewayRouteAsFound();

describe.skipIf(problem !== null)('the CNI agent fast path, through the executables', () => {
  const h = createNetnsHarness();
  let etcd: EtcdInstance;
  let ds: EtcdDatastore;
  let binDir: string;
  let socketDir: string;
  let socketPath: string;
  let agent: ChildProcess | null = null;
  let agentLog = '';

  beforeAll(async () => {
    etcd = await startEtcd();
    ds = createEtcdDatastore({ endpoints: [etcd.endpoint] });
    await ds.create(Kinds.IPPool, {
      apiVersion: TORTIE_API_VERSION,
      kind: 'IPPool',
      metadata: { name: 'agent-pool' },
      spec: { cidr: POOL_CIDR, blockSize: 27, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false, disabled: false },
    });
    // The install layout: the shim is the `tortie` a runtime finds in CNI_PATH; the Node plugin is its fallback.
    binDir = await mkdtemp(join(tmpdir(), 'tortie-agent-bin-'));
    await copyFile(SHIM, join(binDir, 'tortie'));
    socketDir = await mkdtemp(join(tmpdir(), 'tortie-agent-sock-'));
    socketPath = join(socketDir, 'run', 'cni.sock');
  });
  afterAll(async () => {
    await stopProcess(agent);
    await ds?.close();
    await etcd?.stop();
    if (binDir) await rm(binDir, { recursive: true, force: true });
    if (socketDir) await rm(socketDir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await h.cleanup();
  });

  async function startAgent(): Promise<ChildProcess> {
    agentLog = '';
    const child = spawn(process.execPath, [CLI, 'cni-agent', '--socket', socketPath], { env: { ...process.env, LOG_LEVEL: 'debug' }, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (d: Buffer) => (agentLog += d.toString()));
    agent = child;
    await pollUntil('the agent to answer on its socket', () => isAnswering(socketPath), { timeoutMs: 20_000 });
    return child;
  }

  async function killAgent(): Promise<void> {
    const child = agent;
    agent = null;
    if (child?.pid === undefined || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(child.pid, 'SIGKILL');
    await exited;
  }

  function config(extra: Record<string, unknown> = {}): string {
    return JSON.stringify({
      cniVersion: '1.1.0',
      name: NETWORK,
      type: 'tortie',
      datastore_type: 'etcdv3',
      etcd_endpoints: etcd.endpoint,
      nodename: NODE,
      mtu: 1400,
      ipam: { type: 'tortie-ipam' },
      ...extra,
    });
  }

  async function cni(variant: Variant, command: string, env: Record<string, string>, stdin = config()): Promise<CniCall> {
    const [file, args]: [string, string[]] = variant === 'shim' ? [join(binDir, 'tortie'), []] : [process.execPath, [NODE_PLUGIN]];
    const r = await execa(file, args, {
      input: stdin,
      reject: false,
      extendEnv: false,
      timeout: 90_000,
      env: {
        PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
        CNI_COMMAND: command,
        CNI_IFNAME: 'eth0',
        CNI_PATH: binDir,
        TORTIE_CNI_SOCKET: socketPath,
        ...(variant === 'node-no-agent' ? { TORTIE_CNI_NO_AGENT: '1' } : {}),
        ...env,
      },
    });
    const json = r.stdout.trim() === '' ? null : (JSON.parse(r.stdout) as Record<string, unknown>);
    return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, json };
  }

  async function pod(): Promise<Pod> {
    const ns = await h.makeNetns('ag');
    const podName = uniqueName('web');
    const containerId = uniqueName('ctr', 16);
    h.trackHostLink(hostVethName({ containerId, podNamespace: 'default', podName }));
    return {
      ns,
      podName,
      containerId,
      env: { CNI_CONTAINERID: containerId, CNI_NETNS: ns.path, CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${podName}` },
    };
  }

  const servedByAgent = (containerId: string, command: string) =>
    agentLog.split('\n').some((l) => l.includes('"request served"') && l.includes(containerId) && l.includes(`"command":"${command}"`));

  async function handles(): Promise<string[]> {
    return (await ds.list(Kinds.IPAMHandle)).items.map((i) => i.metadata.name).filter((n) => n.startsWith(`${NETWORK}.`));
  }

  async function expectNothingLeft(pods: readonly Pod[]): Promise<void> {
    expect(await handles()).toEqual([]);
    const blocks = (await ds.list<IpamBlockObject>(Kinds.IPAMBlock)).items.filter((b) => b.spec.cidr.startsWith(`10.250.${subnet}.`));
    for (const b of blocks) expect(b.spec.allocations.every((a) => a === null), `block ${b.spec.cidr} still allocates`).toBe(true);
    for (const p of pods) expect(await h.hostIp.link(hostVethName({ containerId: p.containerId, podNamespace: 'default', podName: p.podName }))).toBeNull();
    expect((await ds.list(Kinds.WorkloadEndpoint, { namespace: 'default' })).items.filter((w) => w.metadata.name.startsWith(NODE.replaceAll('-', '--')))).toEqual([]);
  }

  it('the shim and the Node plugin through the agent give the same spec-valid result as the plugin alone; the socket is 0600', async () => {
    await startAgent();
    expect((await stat(socketPath)).mode & 0o777).toBe(0o600);
    expect((await stat(dirname(socketPath))).mode & 0o777).toBe(0o700);

    const p = await pod();
    const viaShim = await cni('shim', 'ADD', p.env);
    expect(viaShim.exitCode, viaShim.stdout + viaShim.stderr).toBe(0);
    expect(viaShim.stderr).toBe('');
    expect(specProblems('result', viaShim.json)).toEqual([]);
    expect(servedByAgent(p.containerId, 'ADD')).toBe(true);
    const address = (viaShim.json as { ips: { address: string }[] }).ips[0]!.address;
    expect(address).toMatch(new RegExp(`^10\\.250\\.${subnet}\\.\\d+/32$`));
    expect(await h.ping(null, address.split('/')[0]!)).toBe(true);

    // The same ADD again: through the Node plugin and the agent, and by the Node plugin alone. Idempotent, byte for byte.
    const viaNode = await cni('node', 'ADD', p.env);
    const alone = await cni('node-no-agent', 'ADD', p.env);
    expect(viaNode.stdout).toBe(viaShim.stdout);
    expect(alone.stdout).toBe(viaShim.stdout);

    // CHECK and DEL through the agent, DEL again by the plugin alone.
    expect(await cni('shim', 'CHECK', p.env, config({ prevResult: viaShim.json }))).toMatchObject({ exitCode: 0, stdout: '' });
    expect(await cni('shim', 'DEL', p.env)).toMatchObject({ exitCode: 0, stdout: '' });
    expect(servedByAgent(p.containerId, 'DEL')).toBe(true);
    expect(await cni('node-no-agent', 'DEL', p.env)).toMatchObject({ exitCode: 0, stdout: '' });
    await expectNothingLeft([p]);

    // Errors come back as the plugin's own CNI error objects, with exit code 1.
    const bad = await cni('shim', 'ADD', p.env, config({ mtu: 'big' }));
    const badAlone = await cni('node-no-agent', 'ADD', p.env, config({ mtu: 'big' }));
    expect(bad.exitCode).toBe(1);
    expect(specProblems('error', bad.json)).toEqual([]);
    expect(bad.stdout).toBe(badAlone.stdout);
    // VERSION too.
    const version = await cni('shim', 'VERSION', {}, '{"cniVersion":"1.0.0"}');
    expect(specProblems('version', version.json)).toEqual([]);
  });

  it('malformed and oversized frames on the socket do not take the agent down', async () => {
    if (agent === null) await startAgent();
    const send = (bytes: Buffer) =>
      new Promise<void>((resolve) => {
        const s = connect(socketPath, () => s.end(bytes));
        s.on('error', () => resolve());
        s.on('close', () => resolve());
      });
    const huge = Buffer.alloc(4);
    huge.writeUInt32BE(0x7fffffff);
    await send(huge);
    await send(Buffer.from('not a frame at all, just text that is long enough'));
    await send(Buffer.concat([Buffer.from('0000000a01ffffffff', 'hex'), Buffer.alloc(1)]));
    const p = await pod();
    const add = await cni('shim', 'ADD', p.env);
    expect(add.exitCode, add.stdout).toBe(0);
    expect(servedByAgent(p.containerId, 'ADD')).toBe(true);
    expect(agent?.exitCode).toBeNull();
    expect(await cni('shim', 'DEL', p.env)).toMatchObject({ exitCode: 0 });
  });

  it('30 concurrent ADDs through the agent never share an address, and their DELs release everything', async () => {
    if (agent === null) await startAgent();
    const pods = await Promise.all(Array.from({ length: 30 }, () => pod()));
    const adds = await Promise.all(pods.map((p) => cni('shim', 'ADD', p.env)));
    for (const a of adds) expect(a.exitCode, a.stdout + a.stderr).toBe(0);
    expect(pods.every((p) => servedByAgent(p.containerId, 'ADD'))).toBe(true);
    const addresses = adds.map((a) => (a.json as { ips: { address: string }[] }).ips[0]!.address);
    expect(new Set(addresses).size).toBe(30);
    // One agent serialises its IPAM: no compare-and-swap lost to itself.
    expect(agentLog).not.toContain('kept changing under us');
    const dels = await Promise.all(pods.map((p) => cni('shim', 'DEL', p.env)));
    for (const d of dels) expect(d.exitCode, d.stdout).toBe(0);
    await expectNothingLeft(pods);
  });

  it('a delegated IPAM plugin (host-local) runs through the agent as it does alone', async () => {
    if (agent === null) await startAgent();
    const dataDir = await mkdtemp(join(tmpdir(), 'tt-agent-host-local-'));
    try {
      const p = await pod();
      const range = `10.250.${(subnet + 3) % 250}`;
      // 1.0.0: Debian's host-local (1.1.1) does not speak 1.1.0.
      const conf = config({ cniVersion: '1.0.0', ipam: { type: 'host-local', ranges: [[{ subnet: `${range}.0/24` }]], dataDir } });
      const env = { ...p.env, CNI_PATH: `${binDir}:/usr/lib/cni` };
      const add = await cni('shim', 'ADD', env, conf);
      expect(add.exitCode, add.stdout + add.stderr).toBe(0);
      expect(servedByAgent(p.containerId, 'ADD')).toBe(true);
      const ip = (add.json as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]!;
      expect(ip.startsWith(`${range}.`)).toBe(true);
      expect(existsSync(join(dataDir, NETWORK, ip))).toBe(true);
      expect(await h.ping(null, ip)).toBe(true);
      expect(await cni('shim', 'DEL', env, conf)).toMatchObject({ exitCode: 0, stdout: '' });
      expect(servedByAgent(p.containerId, 'DEL')).toBe(true);
      expect(existsSync(join(dataDir, NETWORK, ip))).toBe(false);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('with its spawner helpers SIGKILLed again and again during ADDs, the agent stays up; every ADD succeeds or fails cleanly and succeeds when retried; DEL leaves nothing', async () => {
    if (agent === null) await startAgent();
    const agentPid = agent?.pid as number;
    // The agent runs `ip` through tortie-spawner helpers (lib/kernel/spawner.ts), not by forking itself.
    const warm = await pod();
    expect((await cni('shim', 'ADD', warm.env)).exitCode).toBe(0);
    expect(await spawnerPidsOf(agentPid)).not.toEqual([]);

    const pods = await Promise.all(Array.from({ length: 12 }, () => pod()));
    let isRunning = true;
    const adds = Promise.all(pods.map((p) => cni('shim', 'ADD', p.env))).finally(() => (isRunning = false));
    let kills = 0;
    while (isRunning) {
      for (const pid of await spawnerPidsOf(agentPid)) {
        try {
          process.kill(pid, 'SIGKILL');
          kills += 1;
        } catch {
          // Already gone between the listing and the kill.
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
    const results = await adds;
    expect(kills).toBeGreaterThan(0);
    expect(agent?.exitCode).toBeNull();
    for (const [i, a] of results.entries()) {
      if (a.exitCode === 0) continue;
      // A command lost with its helper is an ERR_KERNEL the plugin reports as a CNI error; ADD undid itself.
      expect(specProblems('error', a.json), a.stdout).toEqual([]);
      const retry = await cni('shim', 'ADD', pods[i]!.env);
      expect(retry.exitCode, retry.stdout).toBe(0);
      results[i] = retry;
    }
    const addresses = results.map((a) => (a.json as { ips: { address: string }[] }).ips[0]!.address);
    expect(new Set(addresses).size).toBe(pods.length);
    for (const p of pods.slice(0, 3)) expect(await cni('shim', 'CHECK', p.env, config({ prevResult: results[pods.indexOf(p)]!.json }))).toMatchObject({ exitCode: 0 });
    for (const a of addresses.slice(0, 3)) expect(await h.ping(null, a.split('/')[0]!)).toBe(true);

    const dels = await Promise.all([...pods, warm].map((p) => cni('shim', 'DEL', p.env)));
    for (const d of dels) expect(d.exitCode, d.stdout).toBe(0);
    await expectNothingLeft([...pods, warm]);
  });

  it('with the agent SIGKILLed in the middle of ADDs, every ADD still succeeds by itself, DEL and GC leave nothing, and a restarted agent serves again', async () => {
    if (agent === null) await startAgent();
    const pods = await Promise.all(Array.from({ length: 12 }, () => pod()));
    const adds = Promise.all(pods.map((p) => cni('shim', 'ADD', p.env)));
    // Kill it as soon as the first allocation is in etcd: some ADDs are done, some half-done, some not started.
    await pollUntil('a first allocation', async () => (await handles()).length > 0, { timeoutMs: 30_000, intervalMs: 5 });
    await killAgent();
    const results = await adds;
    for (const a of results) {
      expect(a.exitCode, a.stdout + a.stderr).toBe(0);
      expect(specProblems('result', a.json)).toEqual([]);
    }
    const addresses = results.map((a) => (a.json as { ips: { address: string }[] }).ips[0]!.address);
    expect(new Set(addresses).size).toBe(pods.length);
    for (const a of addresses.slice(0, 3)) expect(await h.ping(null, a.split('/')[0]!)).toBe(true);

    // The socket file of the killed agent is still there: the shim finds nobody behind it and falls back.
    expect(existsSync(socketPath)).toBe(true);
    const dels = await Promise.all(pods.map((p) => cni('shim', 'DEL', p.env)));
    for (const d of dels) expect(d.exitCode, d.stdout).toBe(0);
    const gc = await cni('shim', 'GC', {}, config({ 'cni.dev/valid-attachments': [] }));
    expect(gc.exitCode, gc.stdout).toBe(0);
    await expectNothingLeft(pods);

    // Restart on the same path (the stale socket file is replaced) and serve again.
    await startAgent();
    const p = await pod();
    expect((await cni('shim', 'ADD', p.env)).exitCode).toBe(0);
    expect(servedByAgent(p.containerId, 'ADD')).toBe(true);
    expect((await cni('node', 'DEL', p.env)).exitCode).toBe(0);
    expect(servedByAgent(p.containerId, 'DEL')).toBe(true);
    await expectNothingLeft([p]);
  });
});
