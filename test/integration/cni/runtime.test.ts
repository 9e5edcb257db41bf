/**
 * A real CNI caller nobody here wrote: Debian 12's podman 4.3 with its CNI
 * network backend runs a busybox container whose network is a conflist of
 * type `tortie`. Podman finds the plugin as an executable named `tortie` in
 * its `cni_plugin_dirs` (a wrapper that execs the built
 * `dist/cni/src/main.js`), calls VERSION, ADD when the container starts and
 * DEL when it is removed, with its own CNI_ARGS and its own netns under
 * /run/netns.
 *
 * Everything podman keeps goes under one temporary directory (containers.conf
 * via CONTAINERS_CONF, --root/--runroot with the vfs driver, the conflist
 * dir), the container's root is a local directory built from busybox-static
 * (`--rootfs`, no image), and containers are removed by name. The plugin runs
 * in this machine's namespace as it does under a real runtime, so the pool is
 * a random 10.250.x.0/24 and the host-wide gateway route is removed afterwards
 * if it was not there.
 *
 * Why these podman settings: this machine has cgroup v1 with a v2 hierarchy
 * also mounted, which crun (podman's default) refuses ("cgroups in hybrid
 * mode not supported"), so the runtime is runc; and podman's default rlimits
 * exceed this process's hard limits (runc: "setrlimit RLIMIT_NOFILE:
 * Operation not permitted"), so the container asks for small ones.
 *
 * Needs `npm run build` first, and Debian's podman, runc and busybox-static.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile, copyFile } from 'node:fs/promises';
import { randomInt } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TORTIE_API_VERSION, ipamHandleId } from '../../../lib/contract.js';
import { createEtcdDatastore, type EtcdDatastore } from '../../../lib/datastore/etcd.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import { netnsExists } from '../../../lib/kernel/netns.js';
import { ETCD_BINARY, startEtcd, type EtcdInstance } from '../../harness/etcd.js';
import { createNetnsHarness, hasGatewayRoute, kernelAccessProblem, pollUntil, removeGatewayRoute, uniqueName } from '../../harness/netns.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const PLUGIN = join(repo, 'dist/cni/src/main.js');
const BUSYBOX = '/bin/busybox';
const NETWORK = 'tortie-podman-net';
const NODE = 'tt-podman-node';

const problem =
  (await kernelAccessProblem()) ??
  (existsSync(ETCD_BINARY) ? null : `${ETCD_BINARY} is missing (Debian package etcd-server)`) ??
  (existsSync('/usr/bin/podman') ? null : 'podman is missing (Debian package podman)') ??
  (existsSync('/usr/sbin/runc') ? null : 'runc is missing (Debian package runc)') ??
  ((await readFile(BUSYBOX).then((b) => b.includes('BusyBox') && !b.includes('/lib64/ld-linux'), () => false))
    ? null
    : `${BUSYBOX} is missing or not static (Debian package busybox-static)`);
if (problem !== null) console.warn(`skipping test/integration/cni/runtime.test.ts: ${problem}`);

const subnet = randomInt(1, 250);
const POOL_CIDR = `10.250.${subnet}.0/24`;

describe.skipIf(problem !== null)('podman (CNI backend) runs a container on the tortie network', () => {
  const h = createNetnsHarness();
  let etcd: EtcdInstance;
  let ds: EtcdDatastore;
  let dir: string;
  let hadGatewayRoute = true;
  const containers: string[] = [];

  async function podman(args: readonly string[], timeoutMs = 90_000): Promise<string> {
    const r = await execa(
      'podman',
      ['--root', join(dir, 'root'), '--runroot', join(dir, 'runroot'), '--storage-driver', 'vfs', ...args],
      { env: { CONTAINERS_CONF: join(dir, 'containers.conf') }, reject: false, timeout: timeoutMs },
    );
    if (r.exitCode !== 0) throw new Error(`podman ${args.join(' ')} exited ${r.exitCode}: ${r.stderr}`);
    return r.stdout.trim();
  }

  beforeAll(async () => {
    if (!existsSync(PLUGIN)) throw new Error(`${PLUGIN} does not exist: run \`npm run build\` first`);
    hadGatewayRoute = await hasGatewayRoute(h);
    etcd = await startEtcd();
    ds = createEtcdDatastore({ endpoints: [etcd.endpoint] });
    await ds.create(Kinds.IPPool, {
      apiVersion: TORTIE_API_VERSION,
      kind: 'IPPool',
      metadata: { name: 'podman-pool' },
      spec: { cidr: POOL_CIDR, blockSize: 28, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false, disabled: false },
    });

    dir = await mkdtemp(join(tmpdir(), 'tortie-podman-'));
    for (const d of ['rootfs/bin', 'rootfs/www', 'bin', 'net', 'root', 'runroot', 'tmp']) await mkdir(join(dir, d), { recursive: true });
    await copyFile(BUSYBOX, join(dir, 'rootfs/bin/busybox'));
    await chmod(join(dir, 'rootfs/bin/busybox'), 0o755);
    for (const applet of ['sh', 'httpd', 'ip', 'cat']) await symlink('busybox', join(dir, 'rootfs/bin', applet));
    await writeFile(join(dir, 'rootfs/www/index.html'), 'hello-from-container\n');
    // Every call podman makes is logged, so the test can show who called what.
    await writeFile(
      join(dir, 'bin/tortie'),
      `#!/bin/sh\necho "$CNI_COMMAND $CNI_CONTAINERID $CNI_NETNS $CNI_ARGS" >> '${dir}/calls.log'\nexec '${process.execPath}' '${PLUGIN}' "$@"\n`,
    );
    await chmod(join(dir, 'bin/tortie'), 0o755);
    await writeFile(
      join(dir, 'containers.conf'),
      [
        '[network]',
        'network_backend = "cni"',
        `cni_plugin_dirs = ["${dir}/bin", "/usr/lib/cni"]`,
        `network_config_dir = "${dir}/net"`,
        '[engine]',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `events_logfile_path = "${dir}/events.log"`,
        'runtime = "runc"',
        `tmp_dir = "${dir}/tmp"`,
        '',
      ].join('\n'),
    );
    await writeFile(
      join(dir, 'net/10-tortie.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: NETWORK,
        plugins: [{ type: 'tortie', datastore_type: 'etcdv3', etcd_endpoints: etcd.endpoint, nodename: NODE, mtu: 1400, ipam: { type: 'tortie-ipam' } }],
      }),
    );
  }, 60_000);

  afterAll(async () => {
    const problems: string[] = [];
    for (const name of containers) await podman(['rm', '-f', '-t', '0', '--ignore', name]).catch((err: Error) => problems.push(err.message));
    await h.cleanup().catch((err: Error) => problems.push(err.message));
    await ds?.close();
    await etcd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    if (!hadGatewayRoute) await removeGatewayRoute(h);
    if (problems.length > 0) throw new Error(problems.join('\n'));
  }, 60_000);

  it('the container gets a pool address, serves the host, and leaves nothing once removed', async () => {
    expect(await podman(['network', 'ls', '--format', '{{.Name}} {{.Driver}}'])).toContain(`${NETWORK} tortie`);

    const name = uniqueName('ctr');
    containers.push(name);
    const id = await podman([
      'run', '-d', '--name', name, '--network', NETWORK,
      '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024',
      '--rootfs', join(dir, 'rootfs'),
      '/bin/httpd', '-f', '-p', '8080', '-h', '/www',
    ]);
    expect(id).toMatch(/^[0-9a-f]{64}$/);

    // Podman called our executable with its own sandbox and CNI_ARGS.
    const calls = (await readFile(join(dir, 'calls.log'), 'utf8')).trim().split('\n');
    const add = calls.find((l) => l.startsWith(`ADD ${id} `));
    expect(add).toBeDefined();
    const sandbox = add!.split(' ')[2]!;
    expect(sandbox).toMatch(/^\/run\/netns\//);
    expect(add).toContain(`K8S_POD_NAME=${name}`);

    // Podman read the address from tortie's result; the container holds it.
    const address = await podman(['inspect', name, '--format', `{{(index .NetworkSettings.Networks "${NETWORK}").IPAddress}}/{{(index .NetworkSettings.Networks "${NETWORK}").IPPrefixLen}}`]);
    expect(address).toMatch(new RegExp(`^10\\.250\\.${subnet}\\.\\d+/32$`));
    const ip = address.split('/')[0]!;
    expect(await podman(['exec', name, '/bin/ip', '-o', '-4', 'addr', 'show', 'eth0'])).toContain(`inet ${address}`);
    const handle = ipamHandleId(NETWORK, id).toLowerCase();
    expect(await ds.get(Kinds.IPAMHandle, handle)).not.toBeNull();
    const route = (await h.hostIp.routes(4)).find((r) => r.dst === ip || r.dst === `${ip}/32`);
    expect(route?.dev).toMatch(/^tor/);
    const hostIfName = route!.dev!;

    // From the host to the server in the container.
    const response = await pollUntil(
      'the container answers HTTP',
      () => execa('socat', ['-T', '3', '-', `TCP:${ip}:8080,connect-timeout=3`], { input: 'GET / HTTP/1.0\r\n\r\n', timeout: 5_000 }).then((r) => r.stdout),
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    expect(response).toMatch(/^HTTP\/1\.[01] 200/);
    expect(response).toContain('hello-from-container');

    await podman(['rm', '-f', '-t', '0', name]);
    const after = (await readFile(join(dir, 'calls.log'), 'utf8')).trim().split('\n');
    expect(after.filter((l) => l.startsWith(`DEL ${id} `)).length).toBeGreaterThanOrEqual(1);
    expect(await h.hostIp.link(hostIfName)).toBeNull();
    expect((await h.hostIp.routes(4)).filter((r) => r.dst === ip || r.dst === `${ip}/32`)).toEqual([]);
    expect(await ds.get(Kinds.IPAMHandle, handle)).toBeNull();
    expect(await netnsExists(sandbox)).toBe(false);
    expect(await podman(['ps', '-a', '--format', '{{.Names}}'])).not.toContain(name);
  }, 120_000);
});
