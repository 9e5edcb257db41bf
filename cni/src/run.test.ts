import { describe, expect, it } from 'vitest';
import { TORTIE_API_VERSION } from '../../lib/contract.js';
import { createMemoryDatastore } from '../../lib/datastore/memory.js';
import { Kinds } from '../../lib/datastore/kinds.js';
import type { Datastore } from '../../lib/datastore/types.js';
import { TortieError } from '../../lib/errors.js';
import type { IpRunner } from '../../lib/kernel/ip.js';
import type { NetnsRef } from '../../lib/kernel/netns-ref.js';
import { createLogger } from '../../lib/log.js';
import type { DatapathRunners } from './attach.js';
import { runCni, type DepsFactory } from './run.js';
import { countingRoundTrips } from './testdata/round-trips.js';
import { specProblems } from './testdata/schemas.js';

// runCni end to end without root: a memory datastore and a recording kernel.
// The same calls against etcd and the real kernel, through the built binary,
// are test/integration/cni/plugin.test.ts.

const NETNS = '/run/netns/pod1';

interface KernelOptions {
  failPodBatch?: boolean;
  /** Awaited before the host side's first batch returns. */
  hostBatchGate?: () => Promise<void>;
}

function kernel(options: KernelOptions = {}) {
  const batches: string[] = [];
  const runner = (ns: NetnsRef | null): IpRunner => ({
    netns: ns,
    inNetns: (other) => runner(other),
    links: async () => [],
    link: async () => null,
    addresses: async () => [],
    routes: async () => [{ family: 4, dst: '0.0.0.0/0', gateway: '192.0.2.1', dev: 'up0', type: 1, table: 254, protocol: 3, scope: 0, metric: 0, prefsrc: null, flags: [], nexthops: [] }],
    neighbours: async () => [],
    batch: async (commands) => {
      batches.push(`${ns === null ? 'host' : 'pod'}: ${commands.join(' | ')}`);
      if (ns === null && batches.length === 1) await options.hostBatchGate?.();
      if (ns !== null && options.failPodBatch && !commands[0]?.startsWith('link del')) {
        throw new TortieError('ERR_KERNEL', 'ip -batch - exited with 1: RTNETLINK answers: Operation not permitted', {
          details: { command: 'ip', exitCode: 1, stderr: 'Command failed -:1', signal: null, timedOut: false, failedLine: 1 },
        });
      }
    },
  });
  const runners: DatapathRunners = {
    ip: runner(null),
    sysctl: { read: async () => '1', write: async () => {} },
    netnsExists: async (path) => path === NETNS,
  };
  return { batches, runners };
}

/** A memory datastore that outlives runCni's close(), so ADD and DEL see the same state. */
function keptOpen(ds: Datastore): { ds: Datastore; closes: () => number } {
  let closes = 0;
  const proxy = new Proxy(ds, {
    get(target, prop, receiver) {
      if (prop === 'close') return async () => void closes++;
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { ds: proxy, closes: () => closes };
}

async function setup(options: KernelOptions & { pools?: boolean } = {}) {
  const store = keptOpen(createMemoryDatastore());
  if (options.pools !== false) {
    await store.ds.create(Kinds.IPPool, {
      apiVersion: TORTIE_API_VERSION,
      kind: 'IPPool',
      metadata: { name: 'default-ipv4-ippool' },
      spec: { cidr: '10.250.0.0/24', blockSize: 28, vxlanMode: 'Always' },
    });
  }
  const k = kernel(options);
  let made = 0;
  const deps: DepsFactory = async () => {
    made++;
    return {
      datastore: store.ds,
      runners: k.runners,
      nodeName: 'node1',
      log: createLogger({ level: 'silent' }),
      runPlugin: async () => {
        throw new Error('no delegated plugin in these tests');
      },
    };
  };
  return { ...store, ...k, deps, made: () => made };
}

const env = (command: string, extra: Record<string, string> = {}) => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: 'ctr1',
  CNI_NETNS: NETNS,
  CNI_IFNAME: 'eth0',
  CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0',
  ...extra,
});
const conf = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'k8s-pod-network', type: 'tortie', datastore_type: 'etcdv3', etcd_endpoints: 'http://127.0.0.1:1', mtu: 0, log_level: 'none', ipam: { type: 'tortie-ipam' }, ...extra });

describe('runCni', () => {
  it('answers VERSION without making any dependency', async () => {
    const s = await setup();
    const out = await runCni({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}', s.deps);
    expect(out.exitCode).toBe(0);
    expect(specProblems('version', JSON.parse(out.stdout))).toEqual([]);
    expect(s.made()).toBe(0);
  });

  it('ADD prints a spec-valid result; the MTU is the uplink less VXLAN; the datastore is closed after', async () => {
    const s = await setup();
    const out = await runCni(env('ADD'), conf(), s.deps);
    expect(out.exitCode).toBe(0);
    const result = JSON.parse(out.stdout) as { ips: { address: string }[] };
    expect(specProblems('result', result)).toEqual([]);
    expect(result.ips[0]?.address).toMatch(/^10\.250\.0\.\d+\/32$/);
    // The fake uplink has no MTU to read (link() is null), so 1500 - 50.
    expect(s.batches[0]).toMatch(/^host: link add tor\w{12} mtu 1450 /);
    expect((await s.ds.list(Kinds.WorkloadEndpoint)).items).toHaveLength(1);
    expect(s.closes()).toBe(1);
  });

  it('ADD whose pod side fails is error 103, and deletes the veth and releases the address first', async () => {
    const s = await setup({ failPodBatch: true });
    const out = await runCni(env('ADD'), conf(), s.deps);
    expect(out.exitCode).toBe(1);
    const error = JSON.parse(out.stdout) as Record<string, unknown>;
    expect(specProblems('error', error)).toEqual([]);
    expect(error).toMatchObject({ cniVersion: '1.0.0', code: 103, msg: expect.stringContaining('Operation not permitted') });
    expect(s.batches.at(-1)).toMatch(/^host: link del tor/);
    expect((await s.ds.list(Kinds.IPAMHandle)).items).toEqual([]);
    expect((await s.ds.list(Kinds.WorkloadEndpoint)).items).toEqual([]);
  });

  it('ADD without any pool is error 100 saying so', async () => {
    const s = await setup({ pools: false });
    const out = await runCni(env('ADD'), conf(), s.deps);
    expect(JSON.parse(out.stdout)).toMatchObject({ code: 100, msg: expect.stringContaining('no IPv4 pool') });
  });

  it('DEL releases what ADD took and is idempotent, with or without a netns', async () => {
    const s = await setup();
    expect((await runCni(env('ADD'), conf(), s.deps)).exitCode).toBe(0);
    expect(await runCni(env('DEL'), conf(), s.deps)).toEqual({ stdout: '', exitCode: 0 });
    expect(s.batches.at(-1)).toBe('pod: link del eth0');
    expect((await s.ds.list(Kinds.IPAMHandle)).items).toEqual([]);
    expect((await s.ds.list(Kinds.WorkloadEndpoint)).items).toEqual([]);
    const { CNI_NETNS: _none, ...noNetns } = env('DEL');
    expect(await runCni(noNetns, conf(), s.deps)).toEqual({ stdout: '', exitCode: 0 });
  });

  it('an unsupported datastore_type is error 2 naming key and value', async () => {
    const s = await setup();
    const out = await runCni(env('ADD'), conf({ datastore_type: 'consul' }), s.deps);
    expect(JSON.parse(out.stdout)).toMatchObject({ code: 2, msg: expect.stringContaining('datastore_type = "consul"') });
    expect(s.made()).toBe(0);
  });
});

describe('runCni datastore round trips (etcd mode)', () => {
  it('ADD on a node that has a block: 5 one after another; DEL: 4', async () => {
    const s = await setup();
    const other = { CNI_CONTAINERID: 'first', CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-1' };
    expect((await runCni(env('ADD', other), conf(), s.deps)).exitCode).toBe(0);
    const counting = countingRoundTrips(s.ds);
    const deps: DepsFactory = async (req, log, e) => ({ ...(await s.deps(req, log, e)), datastore: counting.ds });
    // pod + namespace + pools + node labels; handle + blocks; handle write + affinity check; block CAS; endpoint create (beside the kernel).
    expect((await runCni(env('ADD'), conf(), deps)).exitCode).toBe(0);
    expect(counting.roundTrips()).toBe(5);
    // endpoint read + handle read; endpoint delete + block read; block CAS; handle delete.
    expect((await runCni(env('DEL'), conf(), deps)).exitCode).toBe(0);
    expect(counting.roundTrips()).toBe(9);
    expect((await s.ds.list(Kinds.WorkloadEndpoint)).items).toHaveLength(1);
    expect((await s.ds.list(Kinds.IPAMHandle)).items).toHaveLength(1);
  });
});

describe('runCni ADD writes the WorkloadEndpoint beside the datapath', () => {
  it('the endpoint is created while the host side is still being made', async () => {
    let endpointWritten: () => void = () => {};
    const written = new Promise<void>((resolve) => (endpointWritten = resolve));
    const s = await setup({
      hostBatchGate: () =>
        Promise.race([written, new Promise<void>((_, reject) => setTimeout(() => reject(new Error('the endpoint was not written during the host batch')), 2000))]),
    });
    const create = s.ds.create.bind(s.ds);
    const watched = new Proxy(s.ds, {
      get(target, prop, receiver) {
        if (prop === 'create') {
          return async (...args: Parameters<Datastore['create']>) => {
            const stored = await create(...args);
            if (args[0] === Kinds.WorkloadEndpoint) endpointWritten();
            return stored;
          };
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const deps: DepsFactory = async (req, log, e) => ({ ...(await s.deps(req, log, e)), datastore: watched });
    const out = await runCni(env('ADD'), conf(), deps);
    expect(out).toMatchObject({ exitCode: 0 });
    expect((await s.ds.list(Kinds.WorkloadEndpoint)).items).toHaveLength(1);
  });

  it('an endpoint write that fails is reported, and deletes the veth and releases the address', async () => {
    const s = await setup();
    const failing = new Proxy(s.ds, {
      get(target, prop, receiver) {
        if (prop === 'create') {
          return async (...args: Parameters<Datastore['create']>) => {
            if (args[0] === Kinds.WorkloadEndpoint) throw new TortieError('ERR_DATASTORE_UNAVAILABLE', 'etcd is unreachable');
            return target.create(...args);
          };
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const deps: DepsFactory = async (req, log, e) => ({ ...(await s.deps(req, log, e)), datastore: failing });
    const out = await runCni(env('ADD'), conf(), deps);
    expect(out.exitCode).toBe(1);
    expect(JSON.parse(out.stdout)).toMatchObject({ code: 11, msg: expect.stringContaining('etcd is unreachable') });
    expect(s.batches.at(-1)).toMatch(/^host: link del tor/);
    expect((await s.ds.list(Kinds.IPAMHandle)).items).toEqual([]);
  });

  it('Kubernetes mode: a failed ADD takes back the address annotations it wrote on the Pod', async () => {
    const s = await setup({ failPodBatch: true });
    await s.ds.create(Kinds.K8sPod, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0', namespace: 'default', annotations: { keep: 'me' } } });
    const asKubernetes = new Proxy(s.ds, {
      get: (target, prop, receiver) => (prop === 'type' ? 'kubernetes' : (Reflect.get(target, prop, receiver) as unknown)),
    });
    const deps: DepsFactory = async (req, log, e) => ({ ...(await s.deps(req, log, e)), datastore: asKubernetes });
    const out = await runCni(env('ADD'), conf(), deps);
    expect(out.exitCode).toBe(1);
    const pod = await s.ds.get(Kinds.K8sPod, 'web-0', 'default');
    expect(pod?.metadata.annotations).toEqual({ keep: 'me' });
    expect((await s.ds.list(Kinds.IPAMHandle)).items).toEqual([]);
  });
});
