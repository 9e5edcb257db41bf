/**
 * `tortie lab` end to end, as a user runs it (the real CLI from source as a
 * child process, root): `lab up --nodes 2` builds the rack (BIRD ToR, two
 * nodes with a speaker and felix each, four pods through the built CNI
 * plugin), `lab status` shows both sessions Established, `lab demo` prints
 * the matrix all allowed, applies backend-from-frontend, and the matrix then
 * denies exactly backend-1 <-> backend-2; `lab down` leaves no lab
 * namespace, no lab process, no new link in this namespace, no lab etcd.
 *
 * Runs a lab of its own: a lab already up on this machine is replaced (the
 * lab is a single per-machine playground, as `tortie etcd start` is).
 * Needs the built CNI plugin (dist/, which `npm test` builds first).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../../lib/kernel/exec.js';
import { kernelAccessProblem } from '../../harness/netns.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(repo, 'cli/src/main.ts');
const PLUGIN = join(repo, 'dist/cni/src/main.js');
const RUN_DIR = '/var/run/tortie/lab';
const LOG_DIR = '/var/log/tortie/lab';

const problem =
  (await kernelAccessProblem()) ??
  (existsSync('/usr/bin/etcd') ? null : '/usr/bin/etcd is missing (Debian package etcd-server)') ??
  (existsSync(PLUGIN) ? null : `${PLUGIN} is missing: run npm run build`) ??
  (existsSync('/usr/sbin/bird') || existsSync('/usr/bin/bird') ? null : 'bird is missing (Debian package bird2)');
if (problem !== null) console.warn(`skipping test/integration/lab/lab.test.ts: ${problem}`);

async function tortie(...args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const r = await execa(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: repo, reject: false, timeout: 150_000, env: { TORTIE_DEBUG: '1' } });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const labNetnses = async () => (await runCommand('ip', ['netns', 'list'])).split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n === 'tortie-tor' || n.startsWith('tortie-node'));
const rootLinks = async () => (JSON.parse(await runCommand('ip', ['-j', 'link', 'show'])) as { ifname: string }[]).map((l) => l.ifname).sort();
const labPids = () =>
  existsSync(RUN_DIR)
    ? readdirSync(RUN_DIR)
        .filter((f) => f.endsWith('.pid'))
        .map((f) => (JSON.parse(readFileSync(join(RUN_DIR, f), 'utf8')) as { pid: number }).pid)
    : [];
const alive = (pid: number) => {
  try {
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
};
/** The last lines of every lab process's log, for failure messages. */
const logs = () =>
  existsSync(LOG_DIR)
    ? readdirSync(LOG_DIR)
        .map((f) => `--- ${f} ---\n${readFileSync(join(LOG_DIR, f), 'utf8').split('\n').slice(-15).join('\n')}`)
        .join('\n')
    : '(no lab logs)';

/** The matrix `lab demo` prints after a heading: row name -> cells in column order. */
function parseMatrix(stdout: string, heading: string): Map<string, string[]> {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => l.startsWith(heading));
  expect(start, `"${heading}" in:\n${stdout}`).toBeGreaterThanOrEqual(0);
  const header = lines[start + 1]!.split(/\s+/).slice(3);
  const rows = new Map<string, string[]>();
  for (const line of lines.slice(start + 2, start + 2 + header.length)) {
    const [name, ...cells] = line.trim().split(/\s+/);
    rows.set(name!, cells);
  }
  expect([...rows.keys()]).toEqual(header);
  return rows;
}

describe.skipIf(problem !== null)('tortie lab', () => {
  afterAll(async () => {
    await tortie('lab', 'down');
  });

  it('up, status, demo (the policy denies exactly backend to backend), down leaves nothing', async () => {
    const linksBefore = await rootLinks();

    const up = await tortie('lab', 'up', '--nodes', '2');
    expect(up.exitCode, `${up.stdout}\n${up.stderr}\n${logs()}`).toBe(0);
    expect(await labNetnses()).toHaveLength(1 + 2 + 4);
    expect(await rootLinks()).toEqual(linksBefore);
    const again = await tortie('lab', 'up', '--nodes', '2');
    expect(again.stdout).toContain('lab is already up with 2 nodes');

    const status = await tortie('lab', 'status');
    expect(status.exitCode, `${status.stderr}\n${logs()}`).toBe(0);
    expect(status.stdout.match(/\| 172\.30\.[12]\.1 +\| node specific \| up +\| [0-9:]+ +\| Established/g)).toHaveLength(2);
    expect(status.stdout).toMatch(/prod\/backend-2 +node2 +10\.244\./);

    const demo = await tortie('lab', 'demo');
    expect(demo.exitCode, `${demo.stdout}\n${demo.stderr}\n${logs()}`).toBe(0);
    const before = parseMatrix(demo.stdout, 'TCP 80 from each pod');
    for (const [from, cells] of before) expect(cells.filter((c) => c === '--'), `row ${from}`).toEqual([]);
    const after = parseMatrix(demo.stdout, 'With the policy:');
    const names = [...after.keys()];
    const denied = [...after].flatMap(([from, cells]) => cells.flatMap((c, k) => (c === '--' ? [`${from}->${names[k]}`] : [])));
    expect(denied.sort()).toEqual(['backend-1->backend-2', 'backend-2->backend-1']);
    expect(demo.stdout).toContain('backend-1 -> backend-2: allowed -> denied');

    const pids = labPids();
    expect(pids.length).toBe(1 + 1 + 2 * 4 + 4); // root bridge, BIRD, per node speaker+felix+CNI agent+bridge, per pod server
    const down = await tortie('lab', 'down');
    expect(down.exitCode, down.stderr).toBe(0);
    expect(await labNetnses()).toEqual([]);
    expect(pids.filter(alive)).toEqual([]);
    expect(await rootLinks()).toEqual(linksBefore);
    expect(existsSync(RUN_DIR)).toBe(false);
    expect(existsSync('/var/lib/tortie/lab')).toBe(false);
    const etcd = await fetch('http://127.0.0.1:23790/health').then(
      () => 'answers',
      () => 'gone',
    );
    expect(etcd).toBe('gone');
    expect((await tortie('lab', 'status')).exitCode).toBe(4);
    expect((await tortie('lab', 'down')).exitCode).toBe(0);
  }, 180_000);
});
