import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtcdDatastore, type EtcdDatastore } from '../../../lib/datastore/etcd.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import { TORTIE_API_VERSION } from '../../../lib/contract.js';
import { specProblems } from '../../../cni/src/testdata/schemas.js';
import { ETCD_BINARY, startEtcd, type EtcdInstance } from '../../harness/etcd.js';

// tortie-ipam driven exactly as a runtime drives it: an executable found in a
// CNI_PATH directory, the CNI_* environment, the config on stdin, JSON on
// stdout, the exit code. Against a real etcd; no root needed.
const repo = fileURLToPath(new URL('../../../', import.meta.url));

describe.skipIf(!existsSync(ETCD_BINARY))('tortie-ipam executable on etcd', () => {
  let etcd: EtcdInstance;
  let ds: EtcdDatastore;
  let binDir: string;

  beforeAll(async () => {
    etcd = await startEtcd();
    ds = createEtcdDatastore({ endpoints: [etcd.endpoint] });
    binDir = await mkdtemp(join(tmpdir(), 'tortie-cni-bin-'));
    // The executable the runtime finds in CNI_PATH (until the bundled build exists).
    const bin = join(binDir, 'tortie-ipam');
    await writeFile(bin, `#!/bin/sh\ncd '${repo}' && exec node --import tsx '${repo}cni/src/ipam/main.ts'\n`);
    await chmod(bin, 0o755);
    for (const [name, cidr, blockSize] of [
      ['default-ipv4-ippool', '10.88.0.0/24', 28],
      ['default-ipv6-ippool', 'fd00:88::/120', 124],
      ['tiny', '10.99.0.0/31', 31],
    ] as const) {
      await ds.create(Kinds.IPPool, { apiVersion: TORTIE_API_VERSION, kind: 'IPPool', metadata: { name }, spec: { cidr, blockSize } });
    }
  });
  afterAll(async () => {
    await ds?.close();
    await etcd?.stop();
    if (binDir !== undefined) await rm(binDir, { recursive: true, force: true });
  });

  const conf = (extra: Record<string, unknown> = {}) => ({
    cniVersion: '1.0.0',
    name: 'k8s-pod-network',
    type: 'tortie',
    datastore_type: 'etcdv3',
    etcd_endpoints: etcd.endpoint,
    nodename: 'node1',
    log_level: 'warn',
    ipam: { type: 'tortie-ipam' },
    ...extra,
  });

  async function run(command: string, containerId: string | undefined, config: object, extraEnv: Record<string, string> = {}) {
    const r = await execa(join(binDir, 'tortie-ipam'), [], {
      input: JSON.stringify(config),
      reject: false,
      env: {
        CNI_COMMAND: command,
        ...(containerId === undefined ? {} : { CNI_CONTAINERID: containerId }),
        CNI_NETNS: '/var/run/netns/none',
        CNI_IFNAME: 'eth0',
        CNI_PATH: binDir,
        CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-${containerId ?? 'none'}`,
        ...extraEnv,
      },
      extendEnv: true,
    });
    const out = r.stdout.trim() === '' ? null : (JSON.parse(r.stdout) as Record<string, unknown>);
    return { exitCode: r.exitCode, out, stderr: r.stderr };
  }

  it('VERSION lists the versions we speak', async () => {
    const r = await run('VERSION', undefined, { cniVersion: '1.1.0' });
    expect(r.exitCode).toBe(0);
    expect(r.out).toEqual({ cniVersion: '1.1.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
    expect(specProblems('version', r.out)).toEqual([]);
  });

  it('ADD assigns, ADD again returns the same, CHECK passes, DEL releases, DEL again succeeds', async () => {
    const add = await run('ADD', 'c-add', conf());
    expect(add.exitCode, add.stderr).toBe(0);
    expect(specProblems('result', add.out)).toEqual([]);
    const ips = add.out?.ips as { address: string }[];
    expect(ips).toHaveLength(1);
    expect(ips[0]!.address).toMatch(/^10\.88\.0\.\d+\/32$/);

    const again = await run('ADD', 'c-add', conf());
    expect(again.out).toEqual(add.out);

    const check = await run('CHECK', 'c-add', conf({ prevResult: add.out }));
    expect(check.exitCode, JSON.stringify(check.out)).toBe(0);
    expect(check.out).toBeNull();

    const del = await run('DEL', 'c-add', conf({ prevResult: add.out }));
    expect(del.exitCode).toBe(0);
    expect(del.out).toBeNull();
    expect(await ds.get(Kinds.IPAMHandle, 'k8s-pod-network.c-add')).toBeNull();
    expect((await run('DEL', 'c-add', conf())).exitCode).toBe(0);

    const stale = await run('CHECK', 'c-add', conf({ prevResult: add.out }));
    expect(stale.exitCode).toBe(1);
    expect(stale.out?.code).toBe(105);
  });

  it('answers in the config version: 0.3.1 ips carry version, dual stack gives both families', async () => {
    const r = await run('ADD', 'c-v031', conf({ cniVersion: '0.3.1', ipam: { type: 'tortie-ipam', assign_ipv6: 'true' } }));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(specProblems('result', r.out)).toEqual([]);
    const ips = r.out?.ips as { version: string; address: string }[];
    expect(ips.map((i) => i.version)).toEqual(['4', '6']);
    expect(ips[1]!.address).toMatch(/^fd00:88::([0-9a-f]+)?\/128$/);
    await run('DEL', 'c-v031', conf({ cniVersion: '0.3.1' }));
  });

  it('takes the address a pod annotation asks for', async () => {
    await ds.create(Kinds.K8sPod, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'pod-c-fixed', namespace: 'default', annotations: { 'tortie.dev/ipAddrs': '["10.88.0.200"]' } },
      spec: {},
    });
    const r = await run('ADD', 'c-fixed', conf());
    expect(r.exitCode, JSON.stringify(r.out)).toBe(0);
    expect(r.out?.ips).toEqual([{ address: '10.88.0.200/32' }]);
    const other = await run('ADD', 'c-fixed-2', conf(), { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-c-fixed' });
    expect(other.exitCode).toBe(1);
    expect(other.out?.code).toBe(101);
    await run('DEL', 'c-fixed', conf());
  });

  it.each([
    ['an unknown version', 1, { cniVersion: '9.9.9' }, {}],
    ['etcd without endpoints', 7, { etcd_endpoints: undefined }, {}],
    ['a requested pool that does not exist', 102, { ipam: { type: 'tortie-ipam', ipv4_pools: ['nope'] } }, {}],
    ['no container ID', 4, {}, { CNI_CONTAINERID: '' }],
  ])('%s is error %s on stdout with exit 1', async (_what, code, extra, env) => {
    const r = await run('ADD', 'c-err', conf(extra), env);
    expect(r.exitCode).toBe(1);
    expect(r.out?.code).toBe(code);
    expect(specProblems('error', r.out)).toEqual([]);
  });

  it('an exhausted pool is error 100 and leaves nothing allocated', async () => {
    const tiny = { ipam: { type: 'tortie-ipam', ipv4_pools: ['tiny'] } };
    expect((await run('ADD', 'c-t1', conf(tiny))).exitCode).toBe(0);
    expect((await run('ADD', 'c-t2', conf(tiny))).exitCode).toBe(0);
    const r = await run('ADD', 'c-t3', conf(tiny));
    expect(r.out?.code).toBe(100);
    expect(await ds.get(Kinds.IPAMHandle, 'k8s-pod-network.c-t3')).toBeNull();
    await run('DEL', 'c-t1', conf(tiny));
    await run('DEL', 'c-t2', conf(tiny));
  });

  it('GC releases this node\'s allocations of containers that are gone, and no other', async () => {
    const v11 = { cniVersion: '1.1.0' };
    await run('ADD', 'c-keep', conf(v11));
    await run('ADD', 'c-gone', conf(v11));
    await run('ADD', 'c-elsewhere', conf({ ...v11, nodename: 'node2' }));
    const gc = await run('GC', undefined, conf({ ...v11, 'cni.dev/valid-attachments': [{ containerID: 'c-keep', ifname: 'eth0' }] }));
    expect(gc.exitCode, JSON.stringify(gc.out)).toBe(0);
    expect(await ds.get(Kinds.IPAMHandle, 'k8s-pod-network.c-gone')).toBeNull();
    expect(await ds.get(Kinds.IPAMHandle, 'k8s-pod-network.c-keep')).not.toBeNull();
    expect(await ds.get(Kinds.IPAMHandle, 'k8s-pod-network.c-elsewhere')).not.toBeNull();
    for (const c of ['c-keep', 'c-elsewhere']) await run('DEL', c, conf(v11));
  });

  it('STATUS succeeds when the datastore answers and a pool is usable', async () => {
    const r = await run('STATUS', undefined, conf({ cniVersion: '1.1.0' }));
    expect(r.exitCode, JSON.stringify(r.out)).toBe(0);
  });

  it('10 ADDs at once get 10 different addresses, and DELs release them all', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `c-par-${i}`);
    const adds = await Promise.all(ids.map((id) => run('ADD', id, conf())));
    for (const a of adds) expect(a.exitCode, JSON.stringify(a.out)).toBe(0);
    const addresses = adds.map((a) => (a.out?.ips as { address: string }[])[0]!.address);
    expect(new Set(addresses).size).toBe(10);
    await Promise.all(ids.map((id) => run('DEL', id, conf())));
    expect((await ds.list(Kinds.IPAMHandle)).items).toEqual([]);
  });
});
