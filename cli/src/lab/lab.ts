/**
 * `tortie lab up|down|status|demo`: a small rack out of network namespaces
 * (see plan.ts for the topology), with the real parts: BIRD 2 as the ToR,
 * tortie's BGP speaker and felix per node, pods made by the real CNI plugin.
 *
 * How the nodes reach etcd: the lab runs its own etcd on the root
 * namespace's loopback (127.0.0.1:23790, data in /var/lib/tortie/lab/etcd).
 * A node namespace cannot see that loopback, and the lab adds no link or
 * address to the root namespace; instead a filesystem Unix socket (which
 * crosses network namespaces) bridges them: one socat in the root namespace
 * (Unix socket → 127.0.0.1:23790) and one per node namespace
 * (127.0.0.1:2379 → Unix socket), so speakers, felix and the CNI plugin all
 * use ETCD_ENDPOINTS=http://127.0.0.1:2379 inside their node.
 *
 * Every process is started detached, with its pid in /var/run/tortie/lab/
 * (a JSON file: pid and a word of its command line, checked before a kill so
 * a reused pid is never killed) and its log in /var/log/tortie/lab/.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { execa } from 'execa';
import { parseResource } from '../../../crds/src/index.js';
import { workloadEndpointName } from '../../../cni/src/commands/workload.js';
import { stageCounterComment } from '../../../felix/src/render/dispatch.js';
import { ROUTE_PROTOCOL } from '../../../lib/contract.js';
import { createEtcdDatastore } from '../../../lib/datastore/etcd.js';
import { Kinds, type KindKey } from '../../../lib/datastore/kinds.js';
import type { Datastore, StoredObject } from '../../../lib/datastore/types.js';
import { TortieError } from '../../../lib/errors.js';
import { runCommand } from '../../../lib/kernel/exec.js';
import type { SpeakerStatusFile } from '../../../bgp-speaker/src/config/status-file.js';
import { renderNodeStatus } from '../commands/node-status.js';
import type { CommandContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { isHealthy, planLocalEtcd, startLocalEtcd, stopLocalEtcd } from '../local-etcd.js';
import {
  LAB_DATA_DIR,
  LAB_ETCD_ENDPOINT,
  LAB_LOG_DIR,
  LAB_RUN_DIR,
  NETWORK_NAME,
  NODE_ETCD_ENDPOINT,
  POD_NAMESPACE,
  POD_PORT,
  POLICY_NAME,
  TOR_NETNS,
  birdConfig,
  cell,
  cidrContains,
  cniConfig,
  demoPolicy,
  diffMatrix,
  expectedAfterPolicy,
  labNodes,
  labPods,
  labResources,
  pairs,
  renderMatrix,
  type LabNode,
  type LabPod,
  type Matrix,
} from './plan.js';

const STATE_FILE = join(LAB_RUN_DIR, 'state.json');
const ETCD_SOCKET = join(LAB_RUN_DIR, 'etcd.sock');
const BIRD_SOCKET = join(LAB_RUN_DIR, 'bird.ctl');
const BIRD_CONF = join(LAB_DATA_DIR, 'bird.conf');
const etcdSettings = () => planLocalEtcd(LAB_ETCD_ENDPOINT, join(LAB_DATA_DIR, 'etcd'), process.env['TORTIE_ETCD_BINARY'] || '/usr/bin/etcd');
const netnsPath = (name: string) => `/var/run/netns/${name}`;
const statusFile = (node: string) => join(LAB_RUN_DIR, `${node}.bgp-status.json`);

interface LabPodState extends LabPod {
  address: string;
}
interface LabState {
  nodes: number;
  pods: LabPodState[];
  upAt: string;
}

/** Where the parts' entry points are: from dist/ when this runs built, from source (through tsx) otherwise. */
function entryPoints(): { node: (rel: string) => string[]; cni: string; shim: string } {
  const fromSource = import.meta.url.endsWith('.ts');
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const distRoot = fromSource ? join(root, 'dist') : root;
  return {
    node: (rel) => (fromSource ? ['--import', 'tsx', join(root, `${rel}.ts`)] : [join(root, `${rel}.js`)]),
    cni: join(distRoot, 'cni/src/main.js'),
    // The C fast path (cni/shim, built by npm run build when gcc is there); the Node plugin when it is not.
    shim: join(distRoot, 'cni/shim/tortie-cni'),
  };
}

// ---------- processes by pid file ----------

interface PidFile {
  pid: number;
  /** A word of /proc/<pid>/cmdline, so a reused pid is never taken for ours. */
  match: string;
}

function readPidFile(name: string): PidFile | null {
  try {
    return JSON.parse(readFileSync(join(LAB_RUN_DIR, `${name}.pid`), 'utf8')) as PidFile;
  } catch {
    return null;
  }
}

function isOurs(p: PidFile): boolean {
  try {
    return readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').includes(p.match);
  } catch {
    return false;
  }
}

/** Starts `argv` detached (in `netns` when given), logs to LAB_LOG_DIR/<name>.log, pid to LAB_RUN_DIR/<name>.pid. */
function startProcess(name: string, argv: string[], options: { netns?: string; env?: Record<string, string>; match: string }): number {
  const log = openSync(join(LAB_LOG_DIR, `${name}.log`), 'w');
  const full = options.netns === undefined ? argv : ['nsenter', `--net=${netnsPath(options.netns)}`, '--', ...argv];
  const child = spawn(full[0]!, full.slice(1), { detached: true, stdio: ['ignore', log, log], env: { ...process.env, ...options.env } });
  closeSync(log);
  if (child.pid === undefined) throw new TortieError('ERR_KERNEL', `could not start ${name}: ${full.join(' ')}`);
  child.unref();
  writeFileSync(join(LAB_RUN_DIR, `${name}.pid`), JSON.stringify({ pid: child.pid, match: options.match } satisfies PidFile));
  return child.pid;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function stopProcess(name: string): Promise<boolean> {
  const p = readPidFile(name);
  rmSync(join(LAB_RUN_DIR, `${name}.pid`), { force: true });
  if (p === null || !isOurs(p)) return false;
  process.kill(p.pid, 'SIGTERM');
  for (let t = 0; t < 50 && isOurs(p); t++) await sleep(100);
  if (isOurs(p)) process.kill(p.pid, 'SIGKILL');
  for (let t = 0; t < 20 && isOurs(p); t++) await sleep(50);
  return true;
}

function pidNames(): string[] {
  if (!existsSync(LAB_RUN_DIR)) return [];
  return readdirSync(LAB_RUN_DIR)
    .filter((f) => f.endsWith('.pid'))
    .map((f) => f.slice(0, -4));
}

async function poll<T>(what: string, timeoutMs: number, fn: () => Promise<T | null | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await fn();
      if (v !== null && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new TortieError('ERR_KERNEL', `lab: timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(250);
  }
}

const ip = (netns: string | null, args: string[]) => runCommand('ip', netns === null ? args : ['-n', netns, ...args]);

async function labNetnses(): Promise<string[]> {
  const out = await runCommand('ip', ['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n === TOR_NETNS || n.startsWith('tortie-node'));
}

function readState(): LabState | null {
  try {
    return JSON.parse(readFileSync(STATE_FILE, 'utf8')) as LabState;
  } catch {
    return null;
  }
}

function labDatastore(): Datastore {
  return createEtcdDatastore({ endpoints: [LAB_ETCD_ENDPOINT] });
}

async function put(ds: Datastore, key: KindKey, object: StoredObject): Promise<void> {
  const kind = Kinds[key];
  if (kind.isTortieKind) {
    const r = parseResource(key, object);
    if (!r.ok) throw new TortieError('ERR_VALIDATION', `lab: ${key} ${object.metadata.name} is invalid: ${JSON.stringify(r.issues)}`);
  }
  const existing = await ds.get(kind, object.metadata.name, object.metadata.namespace);
  if (existing === null) await ds.create(kind, object);
  else await ds.update(kind, { ...object, metadata: { ...object.metadata, resourceVersion: existing.metadata.resourceVersion } });
}

// ---------- up ----------

/** Whether a lab of `nodes` nodes is up: state, every namespace and every process. */
async function isUp(nodes: number): Promise<LabState | null> {
  const state = readState();
  if (state === null || state.nodes !== nodes) return null;
  const names = await labNetnses();
  const want = [TOR_NETNS, ...labNodes(nodes).map((n) => n.netns), ...state.pods.map((p) => p.netns)];
  if (!want.every((n) => names.includes(n))) return null;
  const procs = ['etcd-bridge', 'bird', ...labNodes(nodes).flatMap((n) => [`${n.name}-speaker`, `${n.name}-felix`, `${n.name}-etcd-bridge`]), ...state.pods.map((p) => `pod-${p.name}`)];
  if (!procs.every((p) => { const f = readPidFile(p); return f !== null && isOurs(f); })) return null;
  return (await isHealthy(LAB_ETCD_ENDPOINT)) ? state : null;
}

export async function labUp(ctx: CommandContext, flags: { nodes: number }): Promise<ExitCode> {
  try {
    return await buildLab(ctx, flags);
  } catch (err) {
    ctx.stderr(`lab up failed; the logs of every lab process are in ${LAB_LOG_DIR}/, and tortie lab down removes what was made\n`);
    throw err;
  }
}

async function buildLab(ctx: CommandContext, flags: { nodes: number }): Promise<ExitCode> {
  if (!Number.isInteger(flags.nodes) || flags.nodes < 1 || flags.nodes > 8) throw new TortieError('ERR_USAGE', `--nodes ${flags.nodes}: give 1 to 8 nodes`);
  if (process.getuid?.() !== 0) throw new TortieError('ERR_USAGE', 'tortie lab needs root (network namespaces, nftables); run it with sudo');
  if ((await isUp(flags.nodes)) !== null) {
    ctx.stdout(`lab is already up with ${flags.nodes} nodes (tortie lab status shows it)\n`);
    return ExitCode.Ok;
  }
  if (readState() !== null || (await labNetnses()).length > 0 || pidNames().length > 0) {
    ctx.stdout('lab: clearing a previous or partial lab first\n');
    await teardown(() => undefined);
  }
  const started = Date.now();
  const say = (s: string) => ctx.stdout(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${s}\n`);
  rmSync(LAB_LOG_DIR, { recursive: true, force: true }); // each lab's logs start empty; they stay after down
  for (const d of [LAB_RUN_DIR, LAB_DATA_DIR, LAB_LOG_DIR]) mkdirSync(d, { recursive: true });
  const nodes = labNodes(flags.nodes);
  const pods = labPods(nodes);
  const entry = entryPoints();
  if (!existsSync(entry.cni)) throw new TortieError('ERR_USAGE', `the CNI plugin ${entry.cni} is not built; run npm run build (or bash scripts/setup.sh)`);

  // 1. etcd, and the bridge the node namespaces reach it through.
  // A lab starts from an empty datastore: data left by a lab that was never taken down is stale.
  if (!(await isHealthy(LAB_ETCD_ENDPOINT))) rmSync(etcdSettings().dataDir, { recursive: true, force: true });
  const etcd = await startLocalEtcd(etcdSettings());
  say(`etcd ${etcd.outcome} on ${LAB_ETCD_ENDPOINT} (data in ${LAB_DATA_DIR}/etcd)`);
  rmSync(ETCD_SOCKET, { force: true });
  startProcess('etcd-bridge', ['socat', `UNIX-LISTEN:${ETCD_SOCKET},fork,unlink-early`, `TCP:127.0.0.1:${new URL(LAB_ETCD_ENDPOINT).port}`], { match: 'socat' });

  // 2. Namespaces and links: the ToR and the nodes, nothing in the root namespace.
  await ip(null, ['netns', 'add', TOR_NETNS]);
  await ip(TOR_NETNS, ['link', 'set', 'lo', 'up']);
  await runCommand('ip', ['netns', 'exec', TOR_NETNS, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  for (const n of nodes) {
    await ip(null, ['netns', 'add', n.netns]);
    await ip(TOR_NETNS, ['link', 'add', n.torIfName, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.netns]);
    await ip(TOR_NETNS, ['addr', 'add', `${n.torAddress}/24`, 'dev', n.torIfName]);
    await ip(TOR_NETNS, ['link', 'set', n.torIfName, 'up']);
    await ip(n.netns, ['link', 'set', 'lo', 'up']);
    await ip(n.netns, ['addr', 'add', `${n.address}/24`, 'dev', 'eth0']);
    await ip(n.netns, ['link', 'set', 'eth0', 'up']);
    await runCommand('ip', ['netns', 'exec', n.netns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    startProcess(`${n.name}-etcd-bridge`, ['socat', 'TCP-LISTEN:2379,bind=127.0.0.1,reuseaddr,fork', `UNIX-CONNECT:${ETCD_SOCKET}`], { netns: n.netns, match: 'socat' });
  }
  say(`namespaces ${TOR_NETNS}, ${nodes.map((n) => n.netns).join(', ')}; links 172.30.<i>.1/24 (ToR) <-> 172.30.<i>.2/24 (node i)`);

  // 3. The ToR: BIRD 2 in AS 65000.
  writeFileSync(BIRD_CONF, birdConfig(nodes));
  rmSync(BIRD_SOCKET, { force: true });
  startProcess('bird', ['bird', '-c', BIRD_CONF, '-s', BIRD_SOCKET, '-f'], { netns: TOR_NETNS, match: 'bird' });
  say(`ToR: BIRD 2 in ${TOR_NETNS}, AS 65000 (config ${BIRD_CONF})`);

  // 4. The datastore.
  const ds = labDatastore();
  try {
    await poll('the lab etcd', 30_000, () => isHealthy(LAB_ETCD_ENDPOINT));
    for (const r of labResources(nodes)) await put(ds, r.key, r.object);
    say(`datastore: IPPool 10.244.0.0/16 (/26 blocks), BGPConfiguration (AS 64512, mesh off), ${nodes.length} Nodes (AS 64512+i), a BGPPeer per node to its ToR address (AS 65000)`);

    // 5. Per node: the speaker and felix, inside the node's namespace.
    for (const n of nodes) {
      const env = { NODENAME: n.name, DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: NODE_ETCD_ENDPOINT };
      startProcess(`${n.name}-speaker`, [process.execPath, ...entry.node('bgp-speaker/src/main')], {
        netns: n.netns,
        match: 'bgp-speaker',
        env: { ...env, TORTIE_STATUS_FILE: statusFile(n.name), TORTIE_BGP_CONNECT_RETRY_TIME: '2', TORTIE_BGP_HOLD_TIME: '30' },
      });
      startProcess(`${n.name}-felix`, [process.execPath, ...entry.node('felix/src/main')], {
        netns: n.netns,
        match: 'felix',
        // Each node's felix owns its endpoint status directory; one shared by all would be swept by each.
        env: { ...env, FELIX_HEALTHPORT: '9099', FELIX_ENDPOINTSTATUSPATHPREFIX: join(LAB_RUN_DIR, n.name) },
      });
      rmSync(cniAgentSocket(n.name), { force: true });
      startProcess(`${n.name}-cni-agent`, [process.execPath, ...entry.node('cli/src/main'), 'cni-agent', '--socket', cniAgentSocket(n.name)], { netns: n.netns, match: 'cni-agent', env });
    }
    // Pods are made through the agents (the fast path); a plugin that finds none would do the job itself, only slower.
    await poll('the CNI agents', 30_000, async () => nodes.every((n) => existsSync(cniAgentSocket(n.name))));
    say(`node agents: a BGP speaker, felix and the CNI agent in each node namespace`);

    // 6. Pods through the real CNI plugin, run inside their node's namespace as a runtime would.
    const state: LabState = { nodes: nodes.length, pods: [], upAt: new Date().toISOString() };
    for (const p of pods) {
      const node = nodes.find((n) => n.name === p.node)!;
      await ip(null, ['netns', 'add', p.netns]);
      await ip(p.netns, ['link', 'set', 'lo', 'up']);
      const result = await cni('ADD', node, p, existsSync(entry.shim) ? [entry.shim] : [process.execPath, entry.cni]);
      const ips = (result?.['ips'] ?? []) as { address: string }[];
      const address = ips[0]?.address.split('/')[0];
      if (address === undefined) throw new TortieError('ERR_KERNEL', `lab: CNI ADD for ${p.name} returned no address: ${JSON.stringify(result)}`);
      // The CNI plugin in etcd mode writes the WorkloadEndpoint without the pod's labels
      // (there is no Pod object to read them from); the lab adds them, as the kubernetes
      // datastore would have from the Pod.
      const wepName = workloadEndpointName(node.name, { containerId: p.containerId, network: NETWORK_NAME, podNamespace: POD_NAMESPACE, podName: p.name, ifName: 'eth0' });
      const wep = await ds.get(Kinds.WorkloadEndpoint, wepName, POD_NAMESPACE);
      if (wep === null) throw new TortieError('ERR_KERNEL', `lab: the CNI plugin wrote no WorkloadEndpoint ${POD_NAMESPACE}/${wepName}`);
      await ds.update(Kinds.WorkloadEndpoint, { ...wep, metadata: { ...wep.metadata, labels: { ...wep.metadata.labels, ...p.labels } } });
      startProcess(`pod-${p.name}`, ['socat', `TCP-LISTEN:${POD_PORT},reuseaddr,fork`, `SYSTEM:echo ${p.name}`], { netns: p.netns, match: 'socat' });
      state.pods.push({ ...p, address });
      writeFileSync(STATE_FILE, JSON.stringify(state, null, 2));
    }
    say(`pods: ${state.pods.map((p) => `${POD_NAMESPACE}/${p.name} ${p.address} on ${p.node}`).join(', ')}; each serves TCP ${POD_PORT}`);

    // 7. Converged: every session Established, every node's kernel routes to the other nodes' pods, felix's table in place.
    await poll('BGP sessions Established', 90_000, async () => {
      for (const n of nodes) {
        const s = JSON.parse(readFileSync(statusFile(n.name), 'utf8')) as SpeakerStatusFile;
        if (s.peers.length !== 1 || s.peers[0]?.state !== 'Established') return false;
      }
      return true;
    });
    say('BGP: every node Established with the ToR');
    await poll('BGP routes in every node', 60_000, async () => {
      for (const n of nodes) {
        const routes = JSON.parse(await ip(n.netns, ['-j', 'route', 'show', 'proto', String(ROUTE_PROTOCOL)])) as { dst: string; type?: string }[];
        for (const p of state.pods.filter((q) => q.node !== n.name)) if (!routes.some((r) => r.type !== 'blackhole' && r.dst.includes('/') && cidrContains(r.dst, p.address))) return false;
      }
      return true;
    });
    say("routes: every node's kernel has a BGP route to every other node's pods");
    await poll('felix tables', 60_000, async () => {
      for (const n of nodes) await runCommand('ip', ['netns', 'exec', n.netns, 'nft', 'list', 'table', 'inet', 'tortie']);
      return true;
    });
    say('felix: the inet tortie table is in every node');
  } finally {
    await ds.close();
  }
  ctx.stdout(`lab is up. tortie lab status; tortie lab demo; ETCD_ENDPOINTS=${LAB_ETCD_ENDPOINT} ./tortie get workloadendpoints -n ${POD_NAMESPACE}; tortie lab down\n`);
  return ExitCode.Ok;
}

/** The Unix socket of a node's CNI agent. */
function cniAgentSocket(node: string): string {
  return join(LAB_RUN_DIR, `${node}-cni.sock`);
}

async function cni(command: 'ADD' | 'DEL', node: LabNode, pod: LabPod, plugin: readonly string[]): Promise<Record<string, unknown> | null> {
  const r = await execa('nsenter', [`--net=${netnsPath(node.netns)}`, '--', ...plugin], {
    input: JSON.stringify(cniConfig(node)),
    reject: false,
    timeout: 60_000,
    extendEnv: false,
    env: {
      PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: command,
      CNI_CONTAINERID: pod.containerId,
      CNI_NETNS: netnsPath(pod.netns),
      CNI_IFNAME: 'eth0',
      CNI_PATH: '/usr/lib/cni',
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${POD_NAMESPACE};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${pod.containerId}`,
      TORTIE_CNI_SOCKET: cniAgentSocket(node.name),
    },
  });
  if (r.exitCode !== 0) throw new TortieError('ERR_KERNEL', `lab: CNI ${command} for ${pod.name} on ${node.name} exited ${r.exitCode}: ${r.stdout} ${r.stderr}`.trim());
  return r.stdout.trim() === '' ? null : (JSON.parse(r.stdout) as Record<string, unknown>);
}

// ---------- down ----------

async function teardown(say: (s: string) => void): Promise<void> {
  const names = pidNames();
  // Pods first, then the node agents, the ToR and the bridges.
  const order = (n: string) => (n.startsWith('pod-') ? 0 : n.endsWith('-speaker') || n.endsWith('-felix') || n.endsWith('-cni-agent') ? 1 : n === 'bird' ? 2 : 3);
  let stopped = 0;
  for (const rank of [0, 1, 2, 3]) {
    const batch = names.filter((n) => order(n) === rank);
    stopped += (await Promise.all(batch.map(stopProcess))).filter(Boolean).length;
  }
  say(`stopped ${stopped} process${stopped === 1 ? '' : 'es'}`);
  // Deleting a node or ToR namespace deletes its end of every veth, and with it the other end.
  const nses = await labNetnses();
  for (const n of nses) await runCommand('ip', ['netns', 'delete', n]).catch(() => undefined);
  say(`deleted ${nses.length} network namespace${nses.length === 1 ? '' : 's'}`);
  const etcdPid = await stopLocalEtcd(etcdSettings());
  say(etcdPid === null ? 'the lab etcd was not running' : `stopped the lab etcd (pid ${etcdPid})`);
  rmSync(LAB_RUN_DIR, { recursive: true, force: true });
  rmSync(LAB_DATA_DIR, { recursive: true, force: true });
}

export async function labDown(ctx: CommandContext): Promise<ExitCode> {
  if (process.getuid?.() !== 0) throw new TortieError('ERR_USAGE', 'tortie lab needs root; run it with sudo');
  await teardown((s) => ctx.stdout(`${s}\n`));
  ctx.stdout(`lab is down (logs stay in ${LAB_LOG_DIR})\n`);
  return ExitCode.Ok;
}

// ---------- status ----------

export async function labStatus(ctx: CommandContext): Promise<ExitCode> {
  const state = readState();
  if (state === null) {
    ctx.stderr('the lab is not up; run tortie lab up\n');
    return ExitCode.Unavailable;
  }
  const alive = (name: string) => {
    const p = readPidFile(name);
    return p !== null && isOurs(p) ? `pid ${p.pid}` : 'NOT RUNNING';
  };
  const nodes = labNodes(state.nodes);
  ctx.stdout(`etcd ${LAB_ETCD_ENDPOINT}: ${(await isHealthy(LAB_ETCD_ENDPOINT)) ? 'healthy' : 'NOT HEALTHY'}; ToR ${TOR_NETNS} (BIRD, AS 65000): ${alive('bird')}\n\n`);
  ctx.stdout('NODE    NETNS          ADDRESS          AS      SPEAKER        FELIX\n');
  for (const n of nodes) ctx.stdout(`${n.name.padEnd(8)}${n.netns.padEnd(15)}${`${n.address}/24`.padEnd(17)}${String(n.asNumber).padEnd(8)}${alive(`${n.name}-speaker`).padEnd(15)}${alive(`${n.name}-felix`)}\n`);
  for (const n of nodes) {
    ctx.stdout(`\n${n.name}: `);
    try {
      ctx.stdout(renderNodeStatus(JSON.parse(readFileSync(statusFile(n.name), 'utf8')) as SpeakerStatusFile, new Date()));
    } catch {
      ctx.stdout(`no BGP status yet (${statusFile(n.name)})\n`);
    }
  }
  ctx.stdout('\nPOD                  NODE    ADDRESS        LABELS\n');
  for (const p of state.pods) ctx.stdout(`${`${POD_NAMESPACE}/${p.name}`.padEnd(21)}${p.node.padEnd(8)}${p.address.padEnd(15)}${Object.entries(p.labels).map(([k, v]) => `${k}=${v}`).join(',')}\n`);
  return ExitCode.Ok;
}

// ---------- demo ----------

/** One TCP connect from `from`'s namespace to `to`'s address, with a short timeout. */
async function probe(from: LabPodState, to: LabPodState, timeoutSec: number): Promise<boolean> {
  const r = await execa('ip', ['netns', 'exec', from.netns, 'socat', `-T${timeoutSec}`, '/dev/null', `TCP:${to.address}:${POD_PORT},connect-timeout=${timeoutSec}`], { reject: false, timeout: (timeoutSec + 5) * 1000 });
  return r.exitCode === 0;
}

export async function connectivityMatrix(pods: readonly LabPodState[], timeoutSec = 1): Promise<Map<string, boolean>> {
  const m = new Map<string, boolean>();
  await Promise.all(pairs(pods).map(async ([a, b]) => m.set(cell(a.name, b.name), await probe(a, b, timeoutSec))));
  return m;
}

/** Probes until the matrix is `expected` (retrying only the cells that differ), or the deadline; returns the last one. */
async function matrixUntil(pods: readonly LabPodState[], expected: (a: LabPodState, b: LabPodState) => boolean, timeoutMs: number): Promise<Map<string, boolean>> {
  const deadline = Date.now() + timeoutMs;
  let m = await connectivityMatrix(pods);
  for (;;) {
    const wrong = pairs(pods).filter(([a, b]) => m.get(cell(a.name, b.name)) !== expected(a, b));
    if (wrong.length === 0 || Date.now() > deadline) return m;
    await sleep(500);
    await Promise.all(wrong.map(async ([a, b]) => m.set(cell(a.name, b.name), await probe(a, b, 1))));
  }
}

export async function labDemo(ctx: CommandContext, flags: { nodes: number }): Promise<ExitCode> {
  const existing = readState();
  const nodes = existing?.nodes ?? flags.nodes;
  const up = await labUp(ctx, { nodes });
  if (up !== ExitCode.Ok) return up;
  const state = readState()!;
  const names = state.pods.map((p) => p.name);
  const ds = labDatastore();
  try {
    // Start from no policy, so the demo can be run again.
    const policyKind = Kinds.K8sNetworkPolicy;
    if ((await ds.get(policyKind, POLICY_NAME, POD_NAMESPACE)) !== null) {
      await ds.delete(policyKind, POLICY_NAME, POD_NAMESPACE);
      await waitForPolicy(state, false);
    }
    const before = await matrixUntil(state.pods, () => true, 20_000);
    ctx.stdout(`\nTCP ${POD_PORT} from each pod (rows) to each other pod (columns), no policy:\n${renderMatrix(names, before)}`);

    const policy = demoPolicy();
    ctx.stdout(`\nApplying NetworkPolicy ${POD_NAMESPACE}/${POLICY_NAME}: pods with role=backend accept TCP ${POD_PORT} only from pods with role=frontend\n`);
    await put(ds, 'K8sNetworkPolicy', policy);
    await waitForPolicy(state, true);
    ctx.stdout('felix programmed it in every node\n');
    const after = await matrixUntil(state.pods, (a, b) => expectedAfterPolicy(a, b), 20_000);
    ctx.stdout(`\nWith the policy:\n${renderMatrix(names, after)}`);
    const changed = diffMatrix(before, after);
    ctx.stdout(`\nWhat changed (${changed.length} connection${changed.length === 1 ? '' : 's'}):\n${changed.map((c) => `  ${c}\n`).join('')}`);
    const unexpected = pairs(state.pods).filter(([a, b]) => after.get(cell(a.name, b.name)) !== expectedAfterPolicy(a, b));
    if (unexpected.length > 0 || [...before.values()].some((v) => !v)) {
      ctx.stderr(`lab demo: connectivity is not what the policy says: ${unexpected.map(([a, b]) => cell(a.name, b.name)).join(', ') || 'a connection failed before the policy'}\n`);
      return ExitCode.InvalidInput;
    }
    ctx.stdout(`Every other connection is unchanged. Remove the policy: ETCD_ENDPOINTS=${LAB_ETCD_ENDPOINT} ./tortie delete netpol ${POLICY_NAME} -n ${POD_NAMESPACE}; tear down: ./tortie lab down\n`);
  } finally {
    await ds.close();
  }
  return ExitCode.Ok;
}

/**
 * Until every node's nftables table does (or no longer does) hold a Kubernetes stage. Felix
 * compiles a pod's Kubernetes policies into set lookups that carry no policy name
 * (felix/DESIGN.md "Kubernetes stage"); the demo policy is the lab's only one, and it selects a
 * pod on every node.
 */
async function waitForPolicy(state: LabState, present: boolean): Promise<void> {
  await poll(`felix to ${present ? 'program' : 'remove'} ${POLICY_NAME} in every node`, 30_000, async () => {
    for (const n of labNodes(state.nodes)) {
      const table = await runCommand('ip', ['netns', 'exec', n.netns, 'nft', 'list', 'table', 'inet', 'tortie']);
      if (table.includes(`"${stageCounterComment('ingress', 'allow', '')}`) !== present) return false;
    }
    return true;
  });
}
