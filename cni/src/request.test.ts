import { describe, expect, it } from 'vitest';
import { parseCniArgs, parseCniRequest, errorVersionOf } from './request.js';
import { CniErrorCodes, type CniError } from './errors.js';

// The conflist of DESIGN.md, as the runtime hands its first plugin to us.
const conf = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    cniVersion: '1.0.0',
    name: 'k8s-pod-network',
    type: 'tortie',
    datastore_type: 'kubernetes',
    nodename: 'node1',
    mtu: 0,
    ipam: { type: 'tortie-ipam' },
    policy: { type: 'k8s' },
    kubernetes: { kubeconfig: '/etc/cni/net.d/tortie-kubeconfig' },
    ...extra,
  });

const env = (extra: Record<string, string | undefined> = {}) => ({
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: '3f6940ab5ab43bc522569d15b23f8c1bbde1d7678b080398506924fc01d72755',
  CNI_NETNS: '/var/run/netns/cni-1',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin:/usr/lib/cni',
  CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=3f69;K8S_POD_UID=1234-5678',
  ...extra,
});

function failure(f: () => unknown): CniError {
  try {
    f();
  } catch (err) {
    return err as CniError;
  }
  throw new Error('expected a CniError');
}

describe('parseCniRequest', () => {
  it('reads the environment, CNI_ARGS and the DESIGN.md config', () => {
    const r = parseCniRequest(env(), conf());
    expect(r.command).toBe('ADD');
    expect(r.cniVersion).toBe('1.0.0');
    expect(r.path).toEqual(['/opt/cni/bin', '/usr/lib/cni']);
    expect(r.k8s).toEqual({ K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: 'web-0', K8S_POD_INFRA_CONTAINER_ID: '3f69', K8S_POD_UID: '1234-5678' });
    expect(r.config.datastore_type).toBe('kubernetes');
    expect(r.ipam).toMatchObject({ type: 'tortie-ipam', assign_ipv4: true, assign_ipv6: false });
    expect(Object.isFrozen(r)).toBe(true);
  });

  it('takes the etcd config, runtimeConfig and a prevResult', () => {
    const r = parseCniRequest(
      env(),
      conf({
        datastore_type: 'etcdv3',
        etcd_endpoints: 'http://127.0.0.1:2379',
        ipam: { type: 'tortie-ipam', assign_ipv6: 'true', ipv4_pools: ['default-ipv4-ippool'] },
        runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], bandwidth: { ingressRate: 1000000, ingressBurst: 100000 } },
        prevResult: { cniVersion: '1.0.0', ips: [{ address: '10.0.0.1/32' }] },
      }),
    );
    expect(r.ipam?.assign_ipv6).toBe(true);
    expect(r.config.runtimeConfig?.portMappings?.[0]?.hostPort).toBe(8080);
    expect(r.prevResult?.ips).toEqual([{ address: '10.0.0.1/32' }]);
  });

  it('keeps fields that are not ours (the delegated IPAM plugin gets stdin as is)', () => {
    const stdin = conf({ somethingElse: { a: 1 } });
    const r = parseCniRequest(env(), stdin);
    expect((r.config as Record<string, unknown>).somethingElse).toEqual({ a: 1 });
    expect(r.stdin).toBe(stdin);
  });

  it('DEL needs no netns (it may be gone); GC reads the valid attachments', () => {
    expect(parseCniRequest(env({ CNI_COMMAND: 'DEL', CNI_NETNS: undefined }), conf()).netns).toBeUndefined();
    const gc = parseCniRequest({ CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' }, conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }] }));
    expect(gc.validAttachments).toEqual([{ containerID: 'c1', ifname: 'eth0' }]);
  });

  it('the tortie-ipam plugin accepts any main plugin type with ipam type tortie-ipam', () => {
    expect(parseCniRequest(env(), conf({ type: 'bridge' }), { plugin: 'tortie-ipam' }).config.type).toBe('bridge');
    expect(failure(() => parseCniRequest(env(), conf({ ipam: { type: 'host-local' } }), { plugin: 'tortie-ipam' })).code).toBe(7);
  });

  it.each([
    ['no CNI_COMMAND', { CNI_COMMAND: undefined }, 4, 'CNI_COMMAND'],
    ['an unknown command', { CNI_COMMAND: 'FROB' }, 4, 'CNI_COMMAND'],
    ['ADD without netns', { CNI_NETNS: undefined }, 4, 'CNI_NETNS'],
    ['ADD without container ID and ifname', { CNI_CONTAINERID: '', CNI_IFNAME: undefined }, 4, 'CNI_CONTAINERID, CNI_IFNAME'],
    ['a bad container ID', { CNI_CONTAINERID: '-abc' }, 4, 'CNI_CONTAINERID'],
    ['a long ifname', { CNI_IFNAME: 'eth0123456789012' }, 4, 'CNI_IFNAME'],
    ['an ifname with a slash', { CNI_IFNAME: 'a/b' }, 4, 'CNI_IFNAME'],
    ['an unknown CNI_ARGS key', { CNI_ARGS: 'FOO=bar' }, 4, 'FOO'],
    ['a malformed CNI_ARGS pair', { CNI_ARGS: 'IgnoreUnknown=1;junk' }, 4, 'junk'],
  ])('%s is code 4 naming the variable', (_what, extra, code, mention) => {
    const err = failure(() => parseCniRequest(env(extra), conf()));
    expect(err.code).toBe(code);
    expect(err.message).toContain(mention);
  });

  it.each([
    ['stdin that is not JSON', '{"cniVersion":', 6, 'not JSON'],
    ['a version we do not speak', conf({ cniVersion: '0.2.0' }), 1, '0.2.0'],
    ['no cniVersion', conf({ cniVersion: undefined }), 7, 'cniVersion'],
    ['an unsupported datastore', conf({ datastore_type: 'consul' }), 2, 'datastore_type = "consul"'],
    ['etcd without endpoints', conf({ datastore_type: 'etcdv3' }), 7, 'etcd_endpoints'],
    ['a negative mtu', conf({ mtu: -1 }), 7, 'config.mtu'],
    ['no ipam', conf({ ipam: undefined }), 7, 'config.ipam'],
    ['another plugin type', conf({ type: 'calico' }), 7, 'type'],
    ['no address family', conf({ ipam: { type: 'tortie-ipam', assign_ipv4: 'false' } }), 7, 'assign_ipv4'],
    ['a malformed prevResult', conf({ prevResult: { ips: [{ address: 'x' }] } }), 6, 'prevResult.ips.0.address'],
  ])('%s is code %s', (_what, stdin, code, mention) => {
    const err = failure(() => parseCniRequest(env(), stdin));
    expect(err.code).toBe(code);
    expect(`${err.message}\n${err.details ?? ''}`).toContain(mention);
  });

  it('refuses CHECK in 0.3.x and STATUS/GC before 1.1.0 with code 1', () => {
    expect(failure(() => parseCniRequest(env({ CNI_COMMAND: 'CHECK' }), conf({ cniVersion: '0.3.1' }))).code).toBe(CniErrorCodes.IncompatibleVersion);
    expect(failure(() => parseCniRequest({ CNI_COMMAND: 'STATUS' }, conf())).code).toBe(CniErrorCodes.IncompatibleVersion);
    expect(parseCniRequest({ CNI_COMMAND: 'STATUS' }, conf({ cniVersion: '1.1.0' })).command).toBe('STATUS');
  });

  it('CHECK needs prevResult', () => {
    expect(failure(() => parseCniRequest(env({ CNI_COMMAND: 'CHECK' }), conf())).code).toBe(7);
  });
});

describe('parseCniArgs', () => {
  it('IgnoreUnknown accepts 1 and true in any case', () => {
    expect(parseCniArgs('IgnoreUnknown=true;X=1').all).toEqual({ IgnoreUnknown: 'true', X: '1' });
    expect(parseCniArgs('IgnoreUnknown=True;X=1').k8s).toEqual({});
    expect(parseCniArgs('').all).toEqual({});
    expect(parseCniArgs('K8S_POD_NAME=a=b').k8s).toEqual({ K8S_POD_NAME: 'a=b' });
  });
});

describe('errorVersionOf', () => {
  it('answers in the config version, or ours when stdin says none', () => {
    expect(errorVersionOf(conf({ cniVersion: '0.4.0' }))).toBe('0.4.0');
    expect(errorVersionOf('garbage')).toBe('1.1.0');
  });
});
