import { describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { defaultNetworkConfigTemplate, parseCniInstallConfig } from './config.js';
import { renderCniKubeconfig } from './kubeconfig.js';
import { NETWORK_CONFIG_PLACEHOLDERS, renderNetworkConfig, type NetworkConfigValues } from './network-config.js';

const inPod = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443', KUBERNETES_NODE_NAME: 'node-a' };
const problemOf = (env: Record<string, string>) => {
  try {
    parseCniInstallConfig(env, 'host');
    return null;
  } catch (err) {
    return { code: (err as { code: string }).code, message: (err as Error).message };
  }
};

describe('parseCniInstallConfig', () => {
  it("defaults to Calico's install-cni layout in kubernetes mode", () => {
    expect(parseCniInstallConfig(inPod, 'host')).toMatchObject({
      binDir: '/opt/cni/bin',
      netDir: '/etc/cni/net.d',
      confName: '10-tortie.conflist',
      mtu: 0,
      nodeName: 'node-a',
      datastoreType: 'kubernetes',
      apiServer: 'https://10.96.0.1:443',
      networkConfigTemplate: defaultNetworkConfigTemplate('kubernetes'),
      isBinaryUpdateSkipped: false,
    });
  });

  it('brackets an IPv6 API server address and falls back to NODENAME, then the host name', () => {
    expect(parseCniInstallConfig({ KUBERNETES_SERVICE_HOST: 'fd00::1', NODENAME: 'n1' }, 'host')).toMatchObject({ apiServer: 'https://[fd00::1]:443', nodeName: 'n1' });
    expect(parseCniInstallConfig({ DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: 'http://10.0.0.1:2379' }, 'host')).toMatchObject({ apiServer: null, nodeName: 'host' });
  });

  it.each([
    [{ ...inPod, CNI_MTU: '1e3' }, 'CNI_MTU="1e3"'],
    [{ ...inPod, CNI_MTU: '40' }, 'CNI_MTU="40"'],
    [{ ...inPod, CNI_BIN_DIR: 'opt/cni/bin' }, 'CNI_BIN_DIR="opt/cni/bin": use an absolute path'],
    [{ ...inPod, CNI_CONF_NAME: '10-tortie.yaml' }, 'CNI_CONF_NAME="10-tortie.yaml"'],
    [{ ...inPod, DATASTORE_TYPE: 'etcd' }, 'DATASTORE_TYPE="etcd": use kubernetes or etcdv3'],
    [{ DATASTORE_TYPE: 'etcdv3' }, 'ETCD_ENDPOINTS is not set'],
    [{ KUBERNETES_NODE_NAME: 'a' }, 'KUBERNETES_SERVICE_HOST is not set'],
    [{ ...inPod, KUBERNETES_SERVICE_PORT: 'https' }, 'KUBERNETES_SERVICE_PORT="https"'],
    [{ ...inPod, UPDATE_CNI_BINARIES: 'maybe' }, 'UPDATE_CNI_BINARIES="maybe": use true or false'],
  ])('%j is refused, naming the variable', (env, message) => {
    const problem = problemOf(env);
    expect(problem?.code).toBe('ERR_CONFIG_INVALID');
    expect(problem?.message).toContain(message);
  });
});

const values: NetworkConfigValues = { nodeName: 'node-a', mtu: 1440, kubeconfigPath: '/etc/cni/net.d/tortie-kubeconfig', datastoreType: 'kubernetes', etcdEndpoints: '' };

describe('renderNetworkConfig', () => {
  it('fills every placeholder of the default template into a conflist the plugin accepts', () => {
    const r = renderNetworkConfig(defaultNetworkConfigTemplate('kubernetes'), values);
    if (!r.ok) throw new Error(r.problem);
    const conflist = JSON.parse(r.text) as { plugins: Record<string, unknown>[] };
    expect(conflist.plugins.map((p) => p.type)).toEqual(['tortie', 'portmap', 'bandwidth']);
    expect(conflist.plugins[0]).toMatchObject({ nodename: 'node-a', mtu: 1440, datastore_type: 'kubernetes', kubernetes: { kubeconfig: values.kubeconfigPath } });
    expect(r.text).not.toMatch(/__[A-Z_]+__/);
  });

  it('the etcd default names the endpoints instead of a kubeconfig', () => {
    const r = renderNetworkConfig(defaultNetworkConfigTemplate('etcdv3'), { ...values, datastoreType: 'etcdv3', etcdEndpoints: 'http://10.0.0.1:2379' });
    if (!r.ok) throw new Error(r.problem);
    const plugin = (JSON.parse(r.text) as { plugins: Record<string, unknown>[] }).plugins[0];
    expect(plugin).toMatchObject({ datastore_type: 'etcdv3', etcd_endpoints: 'http://10.0.0.1:2379' });
    expect(plugin).not.toHaveProperty('kubernetes');
  });

  it("takes Calico's placeholders, __NODENAME__ and __ETCD_ENDPOINTS__ too", () => {
    expect(NETWORK_CONFIG_PLACEHOLDERS).toEqual(expect.arrayContaining(['__KUBERNETES_NODE_NAME__', '__NODENAME__', '__CNI_MTU__', '__KUBECONFIG_FILEPATH__', '__ETCD_ENDPOINTS__']));
    const template = '{"cniVersion":"0.3.1","name":"k8s-pod-network","type":"tortie","datastore_type":"etcdv3","etcd_endpoints":"__ETCD_ENDPOINTS__","nodename":"__NODENAME__","ipam":{"type":"tortie-ipam"}}';
    const r = renderNetworkConfig(template, { ...values, etcdEndpoints: 'http://10.0.0.1:2379' });
    expect(r.ok && JSON.parse(r.text)).toMatchObject({ etcd_endpoints: 'http://10.0.0.1:2379', nodename: 'node-a' });
  });

  it('escapes values inside JSON strings', () => {
    const r = renderNetworkConfig(defaultNetworkConfigTemplate('kubernetes'), { ...values, kubeconfigPath: '/etc/cni/net.d/a"b' });
    expect(r.ok && (JSON.parse(r.text) as { plugins: { kubernetes: { kubeconfig: string } }[] }).plugins[0]?.kubernetes.kubeconfig).toBe('/etc/cni/net.d/a"b');
  });

  it.each([
    ['{"name":"x","cniVersion":"1.0.0","plugins":[{"type":"tortie","mtu":__MTU__}]}', 'the placeholder __MTU__, which tortie does not fill'],
    ['{"name":"x","cniVersion":"1.0.0","plugins":[{"type":"tortie",}]}', 'is not JSON once its placeholders are filled'],
    ['{"name":"x","cniVersion":"1.0.0","plugins":[{"type":"bridge"}]}', 'names no plugin of type "tortie"'],
    ['{"name":"x","cniVersion":"1.0.0","plugins":[{"type":"tortie"}]}', 'plugins[0]: invalid network configuration: config.ipam: is required'],
    ['{"name":"x","cniVersion":"9.9.9","plugins":[{"type":"tortie","ipam":{"type":"tortie-ipam"}}]}', 'plugins[0]'],
    ['{"name":"x","cniVersion":"1.0.0","plugins":[{"type":"tortie","mtu":-1,"ipam":{"type":"tortie-ipam"}}]}', 'mtu'],
  ])('refuses %s, naming CNI_NETWORK_CONFIG', (template, problem) => {
    const r = renderNetworkConfig(template, values);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problem).toContain('CNI_NETWORK_CONFIG');
      expect(r.problem).toContain(problem);
    }
  });
});

describe('renderCniKubeconfig', () => {
  it('points at a token file, embeds the CA, and client-node reads the token from the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tortie-kubeconfig-'));
    try {
      const tokenFile = join(dir, 'tortie-token');
      await writeFile(tokenFile, 'token-1\n');
      const text = renderCniKubeconfig({ server: 'https://10.96.0.1:443', caPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', tokenFile });
      const doc = parse(text) as { users: { user: Record<string, unknown> }[]; clusters: { cluster: Record<string, string> }[] };
      expect(doc.users[0]?.user).toEqual({ tokenFile, 'token-file': tokenFile });
      expect(text).not.toContain('token-1');
      expect(Buffer.from(doc.clusters[0]?.cluster['certificate-authority-data'] ?? '', 'base64').toString()).toContain('BEGIN CERTIFICATE');
      const kc = new KubeConfig();
      kc.loadFromString(text);
      expect(kc.getCurrentCluster()?.server).toBe('https://10.96.0.1:443');
      expect(kc.getCurrentUser()?.token?.trim()).toBe('token-1');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
