import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ETCD_KEY_PREFIX } from '../../../lib/contract.js';
import { type EtcdInstance, findFreePort, startEtcd } from '../../harness/etcd.js';
import { FakeApiServer } from '../../harness/fake-apiserver.js';
import { makeTestCertificates, type TestCertificates } from '../../harness/tls.js';

/**
 * The tortie CLI as a user runs it: a child process with only environment
 * variables, files and stdin, against a real etcd (test/harness/etcd.ts).
 *
 * The CLI runs from source through tsx (`node --import tsx cli/src/main.ts`),
 * so this test never depends on a stale build; one test runs the built
 * dist/cli/src/main.js (what `tortie` is), which `npm test` builds first.
 */
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const examplesDir = join(repo, 'examples');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Environment of the child: ours, minus anything that would point the CLI elsewhere. */
function childEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || ['DATASTORE_TYPE', 'ETCD_ENDPOINTS', 'ETCD_CA_CERT_FILE', 'ETCD_CERT_FILE', 'ETCD_KEY_FILE', 'KUBECONFIG', 'TORTIE_ETCD_DATA_DIR'].includes(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

async function runCli(command: string[], args: string[], env: Record<string, string>, input?: string): Promise<Run> {
  const [file, ...prefix] = command as [string, ...string[]];
  const result = await execa(file, [...prefix, ...args], {
    cwd: repo,
    env: childEnv(env),
    extendEnv: false,
    reject: false,
    stripFinalNewline: false,
    timeout: 60_000,
    ...(input === undefined ? { stdin: 'ignore' as const } : { input }),
  });
  return { code: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

const FROM_SOURCE = ['node', '--import', 'tsx', 'cli/src/main.ts'];

/** The IPPools the top-level example files define (not examples/invalid/), as name → cidr. */
function examplePools(): Map<string, string> {
  const pools = new Map<string, string>();
  for (const file of readdirSync(examplesDir).filter((name) => /\.(ya?ml|json)$/.test(name))) {
    for (const document of parseAllDocuments(readFileSync(join(examplesDir, file), 'utf8')) as unknown as { toJS(): unknown }[]) {
      const value = document.toJS() as { kind?: string; metadata?: { name?: string }; spec?: { cidr?: string } } | null;
      if (value?.kind === 'IPPool' && value.metadata?.name !== undefined) pools.set(value.metadata.name, value.spec?.cidr ?? '');
    }
  }
  return pools;
}

function exampleDocumentCount(): number {
  let count = 0;
  for (const file of readdirSync(examplesDir).filter((name) => /\.(ya?ml|json)$/.test(name))) {
    const text = readFileSync(join(examplesDir, file), 'utf8');
    count += (parseAllDocuments(text) as unknown as { toJS(): unknown }[]).filter((d) => d.toJS() !== null).length;
  }
  return count;
}

const IPPOOL = (name: string, spec: string) => `apiVersion: crd.tortie.dev/v1
kind: IPPool
metadata:
  name: ${name}
spec:
${spec}`;

describe('tortie CLI against etcd', () => {
  let etcd: EtcdInstance;
  let client: Etcd3;
  let dir: string;
  let env: Record<string, string>;
  const tortie = (args: string[], input?: string) => runCli(FROM_SOURCE, args, env, input);

  beforeAll(async () => {
    etcd = await startEtcd();
    client = new Etcd3({ hosts: etcd.endpoint });
    env = { ETCD_ENDPOINTS: etcd.endpoint };
  });
  afterAll(async () => {
    client?.close();
    await etcd?.stop();
  });
  beforeEach(async () => {
    await client.delete().prefix(ETCD_KEY_PREFIX);
    dir = await mkdtemp(join(tmpdir(), 'tortie-cli-test-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('apply -f examples/ stores every top-level example, and get ippools -o wide shows the pools', async () => {
    const pools = examplePools();
    expect(pools.size, 'examples/ should hold at least one IPPool').toBeGreaterThan(0);
    const applied = await tortie(['apply', '-f', 'examples/']);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    const lines = applied.stdout.trimEnd().split('\n');
    // Not recursive: examples/invalid/ is not read, so every line is one valid example created.
    expect(lines).toHaveLength(exampleDocumentCount());
    for (const line of lines) expect(line).toMatch(/^[a-z]+(\.[a-z0-9.-]+)?\/[a-z0-9.-]+ created$/);
    for (const name of pools.keys()) expect(lines).toContain(`ippool.crd.tortie.dev/${name} created`);

    const listed = await tortie(['get', 'ippools', '-o', 'wide']);
    expect(listed.code).toBe(0);
    const [header, ...rows] = listed.stdout.trimEnd().split('\n');
    expect(header?.split(/\s{2,}/)).toEqual(['NAME', 'CIDR', 'SELECTOR', 'BLOCKSIZE', 'IPIPMODE', 'VXLANMODE', 'NATOUTGOING', 'DISABLED']);
    for (const [name, cidr] of pools) expect(rows.some((row) => row.startsWith(`${name} `) && row.includes(` ${cidr} `))).toBe(true);
  });

  it('a second apply of the same files says unchanged for every object', async () => {
    expect((await tortie(['apply', '-f', 'examples/'])).code).toBe(0);
    const again = await tortie(['apply', '-f', 'examples/']);
    expect(again.code).toBe(0);
    const lines = again.stdout.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatch(/ unchanged$/);
  });

  it('apply of a changed spec says configured and stores the change', async () => {
    await writeFile(join(dir, 'p.yaml'), IPPOOL('p', '  cidr: 10.1.0.0/16\n'));
    expect((await tortie(['apply', '-f', join(dir, 'p.yaml')])).stdout).toBe('ippool.crd.tortie.dev/p created\n');
    await writeFile(join(dir, 'p.yaml'), IPPOOL('p', '  cidr: 10.1.0.0/16\n  blockSize: 28\n'));
    expect((await tortie(['apply', '-f', join(dir, 'p.yaml')])).stdout).toBe('ippool.crd.tortie.dev/p configured\n');
    const shown = await tortie(['get', 'ippool', 'p', '-o', 'json']);
    expect(JSON.parse(shown.stdout).spec.blockSize).toBe(28);
  });

  it('a file with one bad document writes nothing and exits 1 naming file, document and field', async () => {
    const file = join(dir, 'mixed.yaml');
    await writeFile(file, `${IPPOOL('good-pool', '  cidr: 10.10.0.0/16\n')}---\n${IPPOOL('bad-pool', '  cidr: 10.20.0.0/16\n  blockSize: 33\n')}`);
    const applied = await tortie(['apply', '-f', file]);
    expect(applied.code).toBe(1);
    expect(applied.stdout).toBe('');
    expect(applied.stderr).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: document 2 \\(IPPool/bad-pool\\): spec\\.blockSize: `, 'm'));
    expect(applied.stderr).not.toMatch(/good-pool/);
    const good = await tortie(['get', 'ippools', 'good-pool']);
    expect(good.code).toBe(3);
    expect((await client.getAll().prefix(ETCD_KEY_PREFIX).keys()).length).toBe(0);
  });

  it('every file in examples/invalid/ is refused with exit 1 and a message naming a field', async () => {
    const invalidDir = join(examplesDir, 'invalid');
    const files = existsSync(invalidDir) ? readdirSync(invalidDir).filter((name) => /\.(ya?ml|json)$/.test(name)) : [];
    expect(files.length, 'examples/invalid/ should hold invalid examples').toBeGreaterThan(0);
    // One run per file would cost a process each; -R over the directory reports every file's problems at once.
    const applied = await tortie(['apply', '-R', '-f', invalidDir]);
    expect(applied.code).toBe(1);
    expect(applied.stdout).toBe('');
    const lines = applied.stderr.trimEnd().split('\n');
    for (const file of files) {
      // FILE: document N (Kind/name): field.path: message
      const prefix = `${join(invalidDir, file)}: document `;
      const line = lines.find((l) => l.startsWith(prefix));
      expect(line, `no problem reported for ${file}`).toBeDefined();
      expect(line?.slice(prefix.length)).toMatch(/^\d+ \([^)]+\): [A-Za-z][\w.[\]"-]*: \S/);
    }
    expect((await client.getAll().prefix(ETCD_KEY_PREFIX).keys()).length).toBe(0);
  });

  it('get of a missing name exits 3 and says which', async () => {
    const missing = await tortie(['get', 'ippools', 'no-such-pool']);
    expect(missing.code).toBe(3);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toBe('ippool.crd.tortie.dev/no-such-pool not found\n');
  });

  it('delete -f removes what the file names, and a second delete exits 3', async () => {
    const file = join(dir, 'pools.yaml');
    await writeFile(file, `${IPPOOL('a', '  cidr: 10.1.0.0/16\n')}---\n${IPPOOL('b', '  cidr: 10.2.0.0/16\n')}`);
    expect((await tortie(['create', '-f', file])).code).toBe(0);
    const deleted = await tortie(['delete', '-f', file]);
    expect(deleted).toMatchObject({ code: 0, stdout: 'ippool.crd.tortie.dev/a deleted\nippool.crd.tortie.dev/b deleted\n' });
    expect((await tortie(['get', 'ippools', '-o', 'name'])).stdout).toBe('');
    const again = await tortie(['delete', '-f', file]);
    expect(again.code).toBe(3);
    expect(again.stderr).toBe('ippool.crd.tortie.dev/a: not found\nippool.crd.tortie.dev/b: not found\n');
    expect((await tortie(['delete', '-f', file, '--ignore-not-found'])).code).toBe(0);
  });

  it('delete KIND NAME removes one object', async () => {
    await writeFile(join(dir, 'p.yaml'), IPPOOL('p', '  cidr: 10.1.0.0/16\n'));
    await tortie(['create', '-f', join(dir, 'p.yaml')]);
    expect(await tortie(['delete', 'ippool', 'p'])).toMatchObject({ code: 0, stdout: 'ippool.crd.tortie.dev/p deleted\n' });
  });

  it('a projectcalico.org/v3 object is accepted and stored as crd.tortie.dev/v1 with defaults', async () => {
    const calico = 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: calico-pool\nspec:\n  cidr: 10.30.0.0/16\n';
    const applied = await tortie(['apply', '-f', '-'], calico);
    expect(applied).toMatchObject({ code: 0, stdout: 'ippool.crd.tortie.dev/calico-pool created\n' });
    const shown = JSON.parse((await tortie(['get', 'ippools', 'calico-pool', '-o', 'json'])).stdout);
    expect(shown).toMatchObject({ apiVersion: 'crd.tortie.dev/v1', kind: 'IPPool', spec: { cidr: '10.30.0.0/16', blockSize: 26, ipipMode: 'Never', vxlanMode: 'Never' } });
  });

  it('create of an existing object and replace of a missing one exit 3', async () => {
    const file = join(dir, 'p.yaml');
    await writeFile(file, IPPOOL('p', '  cidr: 10.1.0.0/16\n'));
    const replaced = await tortie(['replace', '-f', file]);
    expect(replaced.code).toBe(3);
    expect(replaced.stderr).toBe('ippool.crd.tortie.dev/p: not found; use create or apply\n');
    expect((await tortie(['create', '-f', file])).stdout).toBe('ippool.crd.tortie.dev/p created\n');
    const created = await tortie(['create', '-f', file]);
    expect(created.code).toBe(3);
    expect(created.stderr).toBe('ippool.crd.tortie.dev/p: already exists; use apply or replace to change it\n');
    expect(await tortie(['replace', '-f', file])).toMatchObject({ code: 0, stdout: 'ippool.crd.tortie.dev/p replaced\n' });
  });

  it('get -o yaml and -o json print what applies back unchanged', async () => {
    expect((await tortie(['apply', '-f', 'examples/'])).code).toBe(0);
    const yaml = await tortie(['get', 'ippools', '-o', 'yaml']);
    expect(yaml.code).toBe(0);
    const reapplied = await tortie(['apply', '-f', '-'], yaml.stdout);
    expect(reapplied.code).toBe(0);
    for (const line of reapplied.stdout.trimEnd().split('\n')) expect(line).toMatch(/^ippool\.crd\.tortie\.dev\/\S+ unchanged$/);
    const json = await tortie(['get', 'bgppeers', '-o', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ kind: 'List', items: expect.any(Array) });
    const fromJson = await tortie(['apply', '-f', '-'], json.stdout);
    expect(fromJson.code).toBe(0);
    for (const line of fromJson.stdout.trimEnd().split('\n')) expect(line).toMatch(/^bgppeer\.crd\.tortie\.dev\/\S+ unchanged$/);
  });

  it('namespaced kinds list the default namespace, -n another, -A all', async () => {
    const policy = (name: string, namespace: string) =>
      `apiVersion: crd.tortie.dev/v1\nkind: NetworkPolicy\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\nspec:\n  selector: all()\n`;
    await writeFile(join(dir, 'np.yaml'), `${policy('in-default', 'default')}---\n${policy('in-prod', 'prod')}`);
    expect((await tortie(['apply', '-f', join(dir, 'np.yaml')])).code).toBe(0);
    expect((await tortie(['get', 'networkpolicies', '-o', 'name'])).stdout).toBe('networkpolicy.crd.tortie.dev/in-default\n');
    expect((await tortie(['get', 'tnp', '-n', 'prod', '-o', 'name'])).stdout).toBe('networkpolicy.crd.tortie.dev/in-prod\n');
    const all = await tortie(['get', 'NetworkPolicy', '-A']);
    expect(all.stdout.split('\n')[0]).toMatch(/^NAMESPACE\s+NAME/);
    expect(all.stdout).toMatch(/prod\s+in-prod/);
  });

  it('an unknown kind or flag is a usage error (exit 2)', async () => {
    const kind = await tortie(['get', 'pools']);
    expect(kind.code).toBe(2);
    expect(kind.stderr).toMatch(/^unknown kind "pools"; known kinds: ippools, /);
    expect((await tortie(['get', 'ippools', '-o', 'xml'])).code).toBe(2);
    expect((await tortie(['apply'])).code).toBe(2);
  });

  it('an unreachable etcd exits 4 naming the endpoint, and prints nothing on stdout', async () => {
    const port = await findFreePort();
    const nowhere = { ETCD_ENDPOINTS: `http://127.0.0.1:${port}` };
    const got = await runCli(FROM_SOURCE, ['get', 'ippools', '--timeout', '5'], nowhere);
    expect(got.code).toBe(4);
    expect(got.stdout).toBe('');
    expect(got.stderr).toContain(`127.0.0.1:${port}`);
    expect(got.stderr.trimEnd().split('\n')).toHaveLength(1);
    await writeFile(join(dir, 'p.yaml'), IPPOOL('p', '  cidr: 10.1.0.0/16\n'));
    const applied = await runCli(FROM_SOURCE, ['apply', '-f', join(dir, 'p.yaml'), '--timeout', '5'], nowhere);
    expect(applied.code).toBe(4);
    expect(applied.stdout).toBe('');
    expect(applied.stderr).toMatch(/is etcd running\?/);
    const version = await runCli(FROM_SOURCE, ['version', '--timeout', '5'], nowhere);
    expect(version.code).toBe(4);
    expect(version.stdout).toMatch(/Datastore Status:\s+unreachable/);
  });

  it('a malformed ETCD_ENDPOINTS is a usage error naming the variable', async () => {
    const got = await runCli(FROM_SOURCE, ['get', 'ippools'], { ETCD_ENDPOINTS: '127.0.0.1:2379' });
    expect(got.code).toBe(2);
    expect(got.stderr).toMatch(/^ETCD_ENDPOINTS="127\.0\.0\.1:2379": /);
  });

  it('version reports the client version and a reachable datastore', async () => {
    const version = await tortie(['version']);
    expect(version.code).toBe(0);
    const { version: packageVersion } = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { version: string };
    expect(version.stdout).toMatch(new RegExp(`^Client Version:\\s+v${packageVersion.replace(/\./g, '\\.')}$`, 'm'));
    expect(version.stdout).toMatch(/^Datastore Type:\s+etcdv3$/m);
    expect(version.stdout).toMatch(/^Datastore Status:\s+reachable$/m);
  });

  it('the built CLI (dist/cli/src/main.js, which npm test builds first) runs and knows its version', async () => {
    const built = join(repo, 'dist/cli/src/main.js');
    expect(existsSync(built), `${built} is missing: run npm run build (npm test does it through scripts/setup.sh)`).toBe(true);
    const version = await runCli(['node', built], ['version'], env);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^Client Version:\s+v\d+\.\d+\.\d+/m);
  });
});

describe('tortie etcd start|stop|status', () => {
  let dir: string;
  let env: Record<string, string>;
  const tortie = (args: string[]) => runCli(FROM_SOURCE, args, env);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tortie-cli-etcd-'));
    env = { ETCD_ENDPOINTS: `http://127.0.0.1:${await findFreePort()}`, TORTIE_ETCD_DATA_DIR: join(dir, 'etcd') };
  });
  afterAll(async () => {
    // Whatever happened above, leave no etcd behind: stop by the pid in the pid file.
    const pidFile = join(dir, 'etcd.pid');
    if (existsSync(pidFile)) {
      const pid = Number.parseInt(readFileSync(pidFile, 'utf8'), 10);
      try {
        process.kill(pid, 'SIGKILL');
      } catch (err) {
        // Already gone (ESRCH): nothing to clean up.
        void err;
      }
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('starts once, says so the second time, serves tortie, and stops', async () => {
    expect(await tortie(['etcd', 'status'])).toMatchObject({ code: 4, stdout: expect.stringMatching(/^etcd is not running/) });
    const started = await tortie(['etcd', 'start']);
    expect(started.stderr).toBe('');
    expect(started).toMatchObject({ code: 0, stdout: expect.stringMatching(/^etcd started \(pid \d+\), serving http:\/\/127\.0\.0\.1:\d+/) });
    const again = await tortie(['etcd', 'start']);
    expect(again).toMatchObject({ code: 0, stdout: expect.stringMatching(/^etcd is already running \(pid \d+\)/) });
    expect(await tortie(['etcd', 'status'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/healthy/) });

    expect((await tortie(['apply', '-f', 'examples/'])).code).toBe(0);
    expect((await tortie(['get', 'ippools', '-o', 'wide'])).code).toBe(0);

    expect(await tortie(['etcd', 'stop'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^etcd stopped \(pid \d+\)/) });
    expect(await tortie(['etcd', 'stop'])).toMatchObject({ code: 0, stdout: 'etcd is not running\n' });
    expect((await tortie(['etcd', 'status'])).code).toBe(4);
  });
});

describe('tortie CLI against the kubernetes datastore (in-repo API server)', () => {
  let api: FakeApiServer;
  let dir: string;
  let env: Record<string, string>;
  const tortie = (args: string[], input?: string) => runCli(FROM_SOURCE, args, env, input);

  beforeAll(async () => {
    api = await FakeApiServer.start();
    dir = await mkdtemp(join(tmpdir(), 'tortie-cli-kube-'));
    env = { DATASTORE_TYPE: 'kubernetes', KUBECONFIG: await api.writeKubeconfig(dir) };
  });
  afterAll(async () => {
    await api?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies, lists and deletes with DATASTORE_TYPE=kubernetes', async () => {
    const pool = 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: kube-pool\nspec:\n  cidr: 10.40.0.0/16\n';
    expect(await tortie(['apply', '-f', '-'], pool)).toMatchObject({ code: 0, stdout: 'ippool.crd.tortie.dev/kube-pool created\n' });
    expect(await tortie(['apply', '-f', '-'], pool)).toMatchObject({ code: 0, stdout: 'ippool.crd.tortie.dev/kube-pool unchanged\n' });
    expect((await tortie(['get', 'ippools'])).stdout).toMatch(/^kube-pool\s+10\.40\.0\.0\/16\s+all\(\)$/m);
    expect(await tortie(['delete', 'ippools', 'kube-pool'])).toMatchObject({ code: 0, stdout: 'ippool.crd.tortie.dev/kube-pool deleted\n' });
    expect((await tortie(['get', 'ippools', 'kube-pool'])).code).toBe(3);
  });
});

describe('tortie CLI against etcd over TLS (ETCD_CA_CERT_FILE, ETCD_CERT_FILE, ETCD_KEY_FILE)', () => {
  let certificates: TestCertificates;
  let etcd: EtcdInstance;
  let dir: string;

  beforeAll(async () => {
    certificates = await makeTestCertificates();
    etcd = await startEtcd({ tls: { certFile: certificates.serverCertFile, keyFile: certificates.serverKeyFile, caFile: certificates.caFile } });
    dir = await mkdtemp(join(tmpdir(), 'tortie-cli-tls-'));
  }, 60_000);
  afterAll(async () => {
    await etcd?.stop();
    await certificates?.remove();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('applies and reads with the client certificate from the environment or from a calicoctl config file', async () => {
    const env = { ETCD_ENDPOINTS: etcd.endpoint, ETCD_CA_CERT_FILE: certificates.caFile, ETCD_CERT_FILE: certificates.clientCertFile, ETCD_KEY_FILE: certificates.clientKeyFile };
    const pool = 'apiVersion: crd.tortie.dev/v1\nkind: IPPool\nmetadata: {name: tls-pool}\nspec: {cidr: 10.61.0.0/16}\n';
    expect(await runCli(FROM_SOURCE, ['apply', '-f', '-'], env, pool)).toMatchObject({ code: 0, stdout: 'ippool.crd.tortie.dev/tls-pool created\n' });
    const config = join(dir, 'tortie.cfg');
    await writeFile(config, [
      'apiVersion: projectcalico.org/v3', 'kind: CalicoAPIConfig', 'spec:', `  etcdEndpoints: ${etcd.endpoint}`,
      `  etcdCACertFile: ${certificates.caFile}`, `  etcdCertFile: ${certificates.clientCertFile}`, `  etcdKeyFile: ${certificates.clientKeyFile}`, '',
    ].join('\n'));
    const got = await runCli(FROM_SOURCE, ['--config', config, 'get', 'ippools'], {});
    expect(got.code).toBe(0);
    expect(got.stdout).toMatch(/^tls-pool\s+10\.61\.0\.0\/16/m);
  });

  it('without the client certificate etcd refuses it: exit 4, datastore unavailable', async () => {
    const run = await runCli(FROM_SOURCE, ['--timeout', '3', 'get', 'ippools'], { ETCD_ENDPOINTS: etcd.endpoint, ETCD_CA_CERT_FILE: certificates.caFile });
    expect(run.code).toBe(4);
  });

  it('a missing certificate file is a configuration error naming the variable: exit 2', async () => {
    const run = await runCli(FROM_SOURCE, ['get', 'ippools'], { ETCD_ENDPOINTS: etcd.endpoint, ETCD_CA_CERT_FILE: join(dir, 'nope.pem') });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/ETCD_CA_CERT_FILE=.*nope\.pem: no such file/);
  });
});
