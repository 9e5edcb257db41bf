/**
 * `tortie cni install` as the tortie-node init container runs it: the built
 * CLI installs into temporary "host" directories (CNI_BIN_DIR, CNI_NET_DIR)
 * from a fake service-account mount, and then the installed executables are
 * run as a runtime runs them: VERSION through the wrapper, the shim and the
 * Node plugin, and a real IPAM ADD/DEL on etcd through the copied runtime
 * and production dependencies (so nothing the plugin loads is missing from
 * the copy). A second install writes nothing.
 *
 * Needs `npm run build` first. No root needed; it lives here because it runs
 * dist/ executables and etcd.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TORTIE_API_VERSION } from '../../../lib/contract.js';
import { createEtcdDatastore, type EtcdDatastore } from '../../../lib/datastore/etcd.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import { ETCD_BINARY, startEtcd, type EtcdInstance } from '../../harness/etcd.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const CLI = join(repo, 'dist/cli/src/main.js');
const isBuilt = existsSync(CLI) && existsSync(join(repo, 'dist/cni/src/install/install.js'));

describe.skipIf(!isBuilt)('tortie cni install (run npm run build first)', () => {
  let root: string;
  let binDir: string;
  let netDir: string;
  let saDir: string;
  const installEnv = () => ({
    CNI_BIN_DIR: binDir,
    CNI_NET_DIR: netDir,
    KUBERNETES_SERVICE_HOST: '10.96.0.1',
    KUBERNETES_SERVICE_PORT: '443',
    KUBERNETES_NODE_NAME: 'tt-install-node',
    TORTIE_SERVICEACCOUNT_DIR: saDir,
    CNI_MTU: '1440',
  });
  const install = (env: Record<string, string> = installEnv()) => execa('node', [CLI, 'cni', 'install'], { env, extendEnv: false, reject: false, timeout: 120_000 });

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'tt-install-'));
    binDir = join(root, 'host/opt/cni/bin');
    netDir = join(root, 'host/etc/cni/net.d');
    saDir = join(root, 'serviceaccount');
    await mkdir(saDir, { recursive: true });
    await writeFile(join(saDir, 'token'), 'token-1');
    await writeFile(join(saDir, 'ca.crt'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  });
  afterAll(async () => {
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  });

  it('installs the plugins, the conflist, the kubeconfig and its token file; a second run changes nothing', async () => {
    const first = await install();
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/tortie written\n/);
    for (const name of ['tortie', 'tortie-ipam']) expect((await stat(join(binDir, name))).mode & 0o777).toBe(0o755);
    const conflist = JSON.parse(await readFile(join(netDir, '10-tortie.conflist'), 'utf8')) as { plugins: Record<string, unknown>[] };
    expect(conflist.plugins[0]).toMatchObject({ type: 'tortie', nodename: 'tt-install-node', mtu: 1440, kubernetes: { kubeconfig: join(netDir, 'tortie-kubeconfig') } });
    expect(await readFile(join(netDir, 'tortie-token'), 'utf8')).toBe('token-1\n');
    expect((await stat(join(netDir, 'tortie-token'))).mode & 0o777).toBe(0o600);
    const kubeconfig = await readFile(join(netDir, 'tortie-kubeconfig'), 'utf8');
    expect(kubeconfig).toContain(`tokenFile: ${join(netDir, 'tortie-token')}`);
    expect(kubeconfig).not.toContain('token-1');
    expect(kubeconfig).toContain('server: https://10.96.0.1:443');
    const [payload, ...others] = await readdir(join(binDir, 'tortie.d'));
    expect(others).toEqual([]);
    const modules = await readdir(join(binDir, 'tortie.d', payload!, 'node_modules'));
    expect(modules).toEqual(expect.arrayContaining(['zod', 'etcd3', 'pino', '@kubernetes']));
    expect(modules).not.toContain('vitest');
    expect(modules).not.toContain('typescript');

    const second = await install();
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.stdout).not.toContain('written');
    expect(second.stdout.trim().split('\n')).toHaveLength(6);
  });

  it('carries a renewed token to the host on the next run', async () => {
    await writeFile(join(saDir, 'token'), 'token-2');
    const r = await install();
    expect(r.stdout).toContain(`${join(netDir, 'tortie-token')} written`);
    expect(r.stdout).toContain(`${join(netDir, 'tortie-kubeconfig')} unchanged`);
    expect(await readFile(join(netDir, 'tortie-token'), 'utf8')).toBe('token-2\n');
  });

  it.each(['tortie', 'tortie-ipam'])('the installed %s answers VERSION with no node agent running', async (plugin) => {
    const r = await execa(join(binDir, plugin), [], {
      input: '{"cniVersion":"1.1.0"}',
      env: { CNI_COMMAND: 'VERSION', PATH: '/usr/bin:/bin', TORTIE_CNI_SOCKET: join(root, 'no-agent.sock') },
      extendEnv: false,
      reject: false,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ cniVersion: '1.1.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  });

  it('refuses a template the plugin would refuse, naming CNI_NETWORK_CONFIG, and writes no conflist', async () => {
    const env = { ...installEnv(), CNI_NET_DIR: join(root, 'bad-net'), CNI_NETWORK_CONFIG: '{"name":"k8s-pod-network","cniVersion":"1.0.0","plugins":[{"type":"tortie","mtu":__MTU__}]}' };
    const r = await install(env);
    expect(r.exitCode, 'a bad setting is a usage error (cli/README.md "Exit codes")').toBe(2);
    expect(r.stderr).toContain('CNI_NETWORK_CONFIG has the placeholder __MTU__');
    expect(existsSync(join(root, 'bad-net', '10-tortie.conflist'))).toBe(false);
  });

  describe.skipIf(!existsSync(ETCD_BINARY))('on etcd', () => {
    let etcd: EtcdInstance;
    let ds: EtcdDatastore;
    beforeAll(async () => {
      etcd = await startEtcd();
      ds = createEtcdDatastore({ endpoints: [etcd.endpoint] });
      await ds.create(Kinds.IPPool, { apiVersion: TORTIE_API_VERSION, kind: 'IPPool', metadata: { name: 'tt-install-pool' }, spec: { cidr: '10.87.0.0/24', blockSize: 28 } });
    });
    afterAll(async () => {
      await ds?.close();
      await etcd?.stop();
    });

    it('the installed tortie-ipam allocates and releases through the copied runtime and dependencies', async () => {
      const env = { ...installEnv(), CNI_NET_DIR: join(root, 'etcd-net'), DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: etcd.endpoint, CNI_NETWORK_CONFIG: '' };
      const r = await install(env);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).not.toContain('kubeconfig');
      const conflist = JSON.parse(await readFile(join(root, 'etcd-net', '10-tortie.conflist'), 'utf8')) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
      // The installed config as the runtime hands it to the plugin.
      const conf = { cniVersion: conflist.cniVersion, name: conflist.name, ...conflist.plugins[0], log_level: 'warn' };
      expect(conf).toMatchObject({ datastore_type: 'etcdv3', etcd_endpoints: etcd.endpoint });
      const run = (command: string) =>
        execa(join(binDir, 'tortie-ipam'), [], {
          input: JSON.stringify(conf),
          env: { PATH: '/usr/bin:/bin', CNI_COMMAND: command, CNI_CONTAINERID: 'tt-install-c1', CNI_NETNS: '/var/run/netns/none', CNI_IFNAME: 'eth0', CNI_PATH: binDir },
          extendEnv: false,
          reject: false,
        });
      const add = await run('ADD');
      expect(add.exitCode, `${add.stdout} ${add.stderr}`).toBe(0);
      expect((JSON.parse(add.stdout) as { ips: { address: string }[] }).ips[0]?.address).toMatch(/^10\.87\.0\.\d+\/32$/);
      expect(await ds.get(Kinds.IPAMHandle, 'k8s-pod-network.tt-install-c1')).not.toBeNull();
      const del = await run('DEL');
      expect(del.exitCode, del.stdout).toBe(0);
      expect(await ds.get(Kinds.IPAMHandle, 'k8s-pod-network.tt-install-c1')).toBeNull();
    });
  });
});
