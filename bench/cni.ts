/**
 * CNI ADD and DEL latency, tortie vs Debian's reference `ptp` + `host-local`
 * (/usr/lib/cni), in the same run on the same machine. Every call is what a
 * runtime does: exec the plugin with CNI_* in the environment and the config
 * on stdin, timed from spawn to exit. Every pod is a fresh netns.
 *
 * Phases, each run for every variant with the variants interleaved so the
 * machine's noise falls on all of them alike:
 *   - sequential: N pods (default 200) in chunks of 50 per variant (ADD 50 one
 *     at a time, then DEL them one at a time);
 *   - concurrent C (default 20 and 32): ROUNDS rounds per variant of C ADDs
 *     started at once, then their C DELs at once.
 *
 * tortie variants: `dist` (the tsc output as shipped: lazy imports, doing
 * the whole job itself: no agent), `agent-node` (the same executable, served
 * by a warm `tortie cni-agent` over its Unix socket), `agent-shim` (the C shim
 * dist/cni/shim/tortie-cni, served by the same agent), and, when asked for,
 * `bundle` (one esbuild file, everything in it), `split` (esbuild with code
 * splitting: lazy imports kept as chunks). tortie runs against a fresh etcd
 * (test/harness/etcd.ts); the reference's host-local writes to a temp dir.
 *
 * Everything runs in a throw-away network namespace (the script re-executes
 * itself inside it), because ptp turns on the host's net.ipv4.ip_forward and
 * both plugins add routes: the machine's own namespace is never touched.
 *
 *     npx tsx bench/cni.ts [--sequential 200] [--concurrent 20,32] [--rounds 3] [--variants ref,dist,agent-node,agent-shim,bundle,split]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { isAnswering } from '../cni/src/agent/client.js';
import { TORTIE_API_VERSION } from '../lib/contract.js';
import { createEtcdDatastore } from '../lib/datastore/etcd.js';
import { Kinds } from '../lib/datastore/kinds.js';
import { startEtcd } from '../test/harness/etcd.js';

const program = new Command()
  .option('--sequential <n>', 'pods per variant, one call at a time', '200')
  .option('--concurrent <list>', 'concurrency levels', '20,32')
  .option('--rounds <n>', 'rounds per concurrency level and variant', '3')
  .option('--variants <list>', 'ref,dist,agent-node,agent-shim,bundle,split', 'ref,dist,agent-node,agent-shim')
  .option('--startup <n>', 'samples of bare process start-up (node -e 0, VERSION)', '30')
  .parse();
const opts = program.opts<{ sequential: string; concurrent: string; rounds: string; variants: string; startup: string }>();
const SEQUENTIAL = Number(opts.sequential);
const LEVELS = opts.concurrent.split(',').filter((s) => s !== '').map(Number);
const ROUNDS = Number(opts.rounds);
const VARIANTS = opts.variants.split(',');
const STARTUP = Number(opts.startup);
const CHUNK = 50;

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const NS_ENV = 'TORTIE_BENCH_NETNS';

function sh(file: string, args: readonly string[]): string {
  const r = spawnSync(file, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

// ── Outside: make the namespace, run this script inside it, delete it. ──
if (process.env[NS_ENV] === undefined) {
  const name = `tt-bench${randomBytes(4).toString('hex')}`;
  sh('ip', ['netns', 'add', name]);
  try {
    sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    const child = spawnSync(
      'nsenter',
      [`--net=/run/netns/${name}`, '--', process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
      { stdio: 'inherit', env: { ...process.env, [NS_ENV]: name } },
    );
    process.exitCode = child.status ?? 1;
  } finally {
    sh('ip', ['netns', 'delete', name]);
  }
} else {
  await main();
}

interface Call {
  ms: number;
  code: number;
  stdout: string;
  stderr: string;
}

function run(argv: readonly string[], env: Record<string, string>, stdin: string): Promise<Call> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(argv[0]!, argv.slice(1), { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ ms: Number(process.hrtime.bigint() - start) / 1e6, code: code ?? -1, stdout, stderr }));
    // A child may exit without reading its stdin (`node -e 0`): EPIPE then is not a failure of the call.
    child.stdin.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') reject(err);
    });
    child.stdin.end(stdin);
  });
}

interface Variant {
  name: string;
  argv: string[];
  config: string;
  env?: Record<string, string>;
}

interface Samples {
  add: number[];
  del: number[];
}

function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'tortie-bench-cni-'));
  const etcd = await startEtcd();
  const made = new Set<string>();
  let agent: ChildProcess | null = null;
  try {
    // Bundles of the same source (cni/src/main.ts) for the bundle variants.
    // CommonJS dependencies call require() and etcd3 reads its rpc.proto from `${__dirname}/../proto` at run time
    // (@grpc/proto-loader), so the bundle gets a require and a __dirname pointing at etcd3's own files.
    const etcd3Lib = join(repo, 'node_modules/etcd3/lib');
    const banner = `import{createRequire as __tortieRequire}from'module';const require=__tortieRequire(import.meta.url);const __dirname=${JSON.stringify(etcd3Lib)},__filename=${JSON.stringify(join(etcd3Lib, 'index.js'))};`;
    const esbuild = join(repo, 'node_modules/.bin/esbuild');
    const common = ['--bundle', '--platform=node', '--format=esm', '--log-level=warning', `--banner:js=${banner}`];
    if (VARIANTS.includes('bundle')) sh(esbuild, [join(repo, 'cni/src/main.ts'), ...common, `--outfile=${work}/bundle/tortie.mjs`]);
    if (VARIANTS.includes('split')) sh(esbuild, [join(repo, 'cni/src/main.ts'), ...common, '--splitting', `--outdir=${work}/split`, '--out-extension:.js=.mjs']);

    const subnet = randomInt(1, 120);
    const ds = createEtcdDatastore({ endpoints: [etcd.endpoint] });
    await ds.create(Kinds.IPPool, {
      apiVersion: TORTIE_API_VERSION,
      kind: 'IPPool',
      metadata: { name: 'bench' },
      spec: { cidr: `10.250.${subnet}.0/24`, blockSize: 26, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false, disabled: false },
    });
    await ds.close();
    const tortieConfig = JSON.stringify({
      cniVersion: '1.0.0', name: 'bench', type: 'tortie', datastore_type: 'etcdv3', etcd_endpoints: etcd.endpoint,
      nodename: 'bench-node', mtu: 1500, ipam: { type: 'tortie-ipam' }, policy: { type: 'none' },
    });
    const refConfig = JSON.stringify({
      cniVersion: '1.0.0', name: 'bench-ref', type: 'ptp', ipMasq: false, mtu: 1500,
      ipam: { type: 'host-local', subnet: `10.250.${subnet + 128}.0/24`, dataDir: join(work, 'host-local') },
    });
    const entry = join(repo, 'dist/cni/src/main.js');
    const shim = join(repo, 'dist/cni/shim/tortie-cni');
    if (!existsSync(entry)) throw new Error(`${entry} does not exist: run \`npm run build\` first`);
    const socketPath = join(work, 'agent', 'cni.sock');
    const viaAgent = { TORTIE_CNI_SOCKET: socketPath };
    if (VARIANTS.some((v) => v.startsWith('agent-'))) {
      if (VARIANTS.includes('agent-shim') && !existsSync(shim)) throw new Error(`${shim} does not exist: run \`npm run build\` with gcc installed`);
      // The agent runs in this namespace, as the node agent does on a node (the CNI_NETNS paths and host veths are here).
      agent = spawn(process.execPath, [join(repo, 'dist/cli/src/main.js'), 'cni-agent', '--socket', socketPath], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, LOG_LEVEL: 'warn' } });
      const deadline = Date.now() + 20_000;
      while (!(await isAnswering(socketPath))) {
        if (Date.now() > deadline || agent.exitCode !== null) throw new Error('the CNI agent did not start');
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const all: Record<string, Variant> = {
      ref: { name: 'ref (ptp + host-local)', argv: ['/usr/lib/cni/ptp'], config: refConfig },
      // No agent: the executable does the whole job itself (what it falls back to).
      dist: { name: 'tortie dist (tsc, lazy imports)', argv: [process.execPath, entry], config: tortieConfig, env: { TORTIE_CNI_NO_AGENT: '1' } },
      'agent-node': { name: 'tortie agent, Node client', argv: [process.execPath, entry], config: tortieConfig, env: viaAgent },
      'agent-shim': { name: 'tortie agent, C shim', argv: [shim], config: tortieConfig, env: viaAgent },
      bundle: { name: 'tortie bundle (1 file)', argv: [process.execPath, `${work}/bundle/tortie.mjs`], config: tortieConfig },
      split: { name: 'tortie bundle, split chunks', argv: [process.execPath, `${work}/split/main.mjs`], config: tortieConfig },
    };
    const variants = VARIANTS.map((v) => all[v] ?? (() => { throw new Error(`unknown variant ${v}`); })());

    let podCounter = 0;
    async function newPod(): Promise<{ ns: string; id: string }> {
      const ns = `tt-bp${randomBytes(4).toString('hex')}`;
      sh('ip', ['netns', 'add', ns]);
      made.add(ns);
      return { ns, id: `bench${(podCounter++).toString().padStart(6, '0')}${randomBytes(6).toString('hex')}` };
    }
    function dropPod(ns: string): void {
      sh('ip', ['netns', 'delete', ns]);
      made.delete(ns);
    }
    async function call(v: Variant, command: 'ADD' | 'DEL', pod: { ns: string; id: string }): Promise<number> {
      const c = await run(v.argv, {
        CNI_COMMAND: command, CNI_CONTAINERID: pod.id, CNI_NETNS: `/run/netns/${pod.ns}`, CNI_IFNAME: 'eth0',
        CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=${pod.id}`, CNI_PATH: '/usr/lib/cni', ...v.env,
      }, v.config);
      if (c.code !== 0) throw new Error(`${v.name} ${command} ${pod.id} exited ${c.code}: ${c.stdout} ${c.stderr}`);
      if (command === 'ADD' && !/"ips"/.test(c.stdout)) throw new Error(`${v.name} ADD printed no ips: ${c.stdout}`);
      return c.ms;
    }

    // Bare start-up: what a process costs before it does any work.
    const startup: Record<string, number[]> = { 'node -e 0': [], 'ptp VERSION': [], 'tortie dist VERSION': [], 'tortie bundle VERSION': [] };
    for (let i = 0; i < STARTUP; i++) {
      startup['node -e 0']!.push((await run([process.execPath, '-e', '0'], {}, '')).ms);
      startup['ptp VERSION']!.push((await run(['/usr/lib/cni/ptp'], { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}')).ms);
      startup['tortie dist VERSION']!.push((await run([process.execPath, entry], { CNI_COMMAND: 'VERSION', TORTIE_CNI_NO_AGENT: '1' }, '{"cniVersion":"1.0.0"}')).ms);
      if (VARIANTS.includes('agent-node')) (startup['tortie agent, Node client, VERSION'] ??= []).push((await run([process.execPath, entry], { CNI_COMMAND: 'VERSION', ...viaAgent }, '{"cniVersion":"1.0.0"}')).ms);
      if (VARIANTS.includes('agent-shim')) (startup['tortie agent, C shim, VERSION'] ??= []).push((await run([shim], { CNI_COMMAND: 'VERSION', ...viaAgent }, '{"cniVersion":"1.0.0"}')).ms);
      if (VARIANTS.includes('bundle')) startup['tortie bundle VERSION']!.push((await run([process.execPath, `${work}/bundle/tortie.mjs`], { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}')).ms);
    }

    const results = new Map<string, Map<string, Samples>>(); // phase → variant → samples
    const record = (phase: string, v: Variant): Samples => {
      const byVariant = results.get(phase) ?? new Map<string, Samples>();
      results.set(phase, byVariant);
      const s = byVariant.get(v.name) ?? { add: [], del: [] };
      byVariant.set(v.name, s);
      return s;
    };

    // Warm-up: one pod per variant (page cache, etcd's first block claim), not recorded.
    for (const v of variants) {
      const p = await newPod();
      await call(v, 'ADD', p);
      await call(v, 'DEL', p);
      dropPod(p.ns);
    }

    const seqPhase = `sequential (${SEQUENTIAL} pods)`;
    for (let done = 0; done < SEQUENTIAL; done += CHUNK) {
      const n = Math.min(CHUNK, SEQUENTIAL - done);
      for (const v of variants) {
        const s = record(seqPhase, v);
        const pods = [];
        for (let i = 0; i < n; i++) pods.push(await newPod());
        for (const p of pods) s.add.push(await call(v, 'ADD', p));
        for (const p of pods) s.del.push(await call(v, 'DEL', p));
        for (const p of pods) dropPod(p.ns);
      }
      process.stderr.write(`sequential: ${done + n}/${SEQUENTIAL}\n`);
    }
    for (const level of LEVELS) {
      const phase = `${level} concurrent (${ROUNDS} rounds)`;
      for (let r = 0; r < ROUNDS; r++) {
        for (const v of variants) {
          const s = record(phase, v);
          const pods = [];
          for (let i = 0; i < level; i++) pods.push(await newPod());
          s.add.push(...(await Promise.all(pods.map((p) => call(v, 'ADD', p)))));
          s.del.push(...(await Promise.all(pods.map((p) => call(v, 'DEL', p)))));
          for (const p of pods) dropPod(p.ns);
        }
        process.stderr.write(`${level} concurrent: round ${r + 1}/${ROUNDS}\n`);
      }
    }

    // Nothing may be left: no veth of either plugin in this namespace.
    const leftovers = sh('ip', ['-o', 'link', 'show']).split('\n').filter((l) => /: (tor|veth)[0-9a-f]+/.test(l));
    if (leftovers.length > 0) throw new Error(`links left behind:\n${leftovers.join('\n')}`);

    // Report (markdown).
    const f = (x: number) => x.toFixed(1);
    const out: string[] = [];
    out.push(`Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} at the end.`);
    out.push('', '| start-up (ms, sequential) | n | p50 | p99 |', '| --- | --- | --- | --- |');
    for (const [name, xs] of Object.entries(startup)) if (xs.length > 0) out.push(`| ${name} | ${xs.length} | ${f(pct(xs, 50))} | ${f(pct(xs, 99))} |`);
    for (const [phase, byVariant] of results) {
      const ref = byVariant.get(all.ref!.name);
      out.push('', `**${phase}** (ms; ratio = variant / ref at the same percentile)`, '', '| variant | n | ADD p50 | ADD p99 | DEL p50 | DEL p99 | ADD p50 ratio | ADD p99 ratio | DEL p50 ratio | DEL p99 ratio |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
      for (const [name, s] of byVariant) {
        const ratio = (xs: number[], ys: number[] | undefined, p: number) => (ys && ys.length > 0 ? (pct(xs, p) / pct(ys, p)).toFixed(2) : '-');
        out.push(`| ${name} | ${s.add.length} | ${f(pct(s.add, 50))} | ${f(pct(s.add, 99))} | ${f(pct(s.del, 50))} | ${f(pct(s.del, 99))} | ${ratio(s.add, ref?.add, 50)} | ${ratio(s.add, ref?.add, 99)} | ${ratio(s.del, ref?.del, 50)} | ${ratio(s.del, ref?.del, 99)} |`);
      }
    }
    console.log(out.join('\n'));
  } finally {
    if (agent?.pid !== undefined && agent.exitCode === null) {
      const exited = new Promise((r) => agent?.once('exit', r));
      process.kill(agent.pid, 'SIGTERM');
      await exited;
    }
    for (const ns of made) spawnSync('ip', ['netns', 'delete', ns]);
    await etcd.stop();
    await rm(work, { recursive: true, force: true });
  }
}
