import { describe, expect, it } from 'vitest';
import { parseFelixConfig, startHealthServer } from './main.js';

describe('parseFelixConfig', () => {
  it('defaults like calicoctl: etcdv3 on localhost, the host name as node', () => {
    const c = parseFelixConfig({}, 'host1');
    expect(c).toMatchObject({ datastoreType: 'etcdv3', etcdEndpoints: ['http://127.0.0.1:2379'], nodeName: 'host1', healthPort: 9099, maxApplyFailures: 10 });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reads the variables', () => {
    const c = parseFelixConfig({ DATASTORE_TYPE: 'kubernetes', KUBECONFIG: '/k', NODENAME: 'n2', ETCD_ENDPOINTS: 'http://a:2379, http://b:2379', FELIX_HEALTHPORT: '0', FELIX_NETNS: '/run/netns/x' }, 'h');
    expect(c).toMatchObject({ datastoreType: 'kubernetes', kubeconfig: '/k', nodeName: 'n2', etcdEndpoints: ['http://a:2379', 'http://b:2379'], healthPort: 0, netns: '/run/netns/x' });
  });

  it('names the bad variable', () => {
    expect(() => parseFelixConfig({ DATASTORE_TYPE: 'consul' }, 'h')).toThrow(/DATASTORE_TYPE/);
    expect(() => parseFelixConfig({ FELIX_HEALTHPORT: 'ninety' }, 'h')).toThrow(/FELIX_HEALTHPORT/);
  });
});

describe('health server', () => {
  it('answers /liveness and /readiness from the loop', async () => {
    const state = { ready: false, live: true };
    const server = startHealthServer(state, parseFelixConfig({ FELIX_HEALTHPORT: '0', FELIX_HEALTHHOST: '127.0.0.1' }, 'h'));
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as { port: number }).port;
    const status = async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).status;
    expect([await status('/liveness'), await status('/readiness'), await status('/x')]).toEqual([200, 503, 404]);
    state.ready = true;
    expect(await status('/readiness')).toBe(200);
    server.close();
  });
});

describe('parseFelixConfig: etcd TLS', () => {
  it('takes ETCD_CA_CERT_FILE, ETCD_CERT_FILE and ETCD_KEY_FILE for https:// endpoints', () => {
    const c = parseFelixConfig({ ETCD_ENDPOINTS: 'https://e:2379', ETCD_CA_CERT_FILE: '/ca', ETCD_CERT_FILE: '/c', ETCD_KEY_FILE: '/k' }, 'h');
    expect(c.etcdTlsFiles).toEqual({ caFile: '/ca', certFile: '/c', keyFile: '/k' });
  });

  it('refuses a client certificate without its key, naming both variables', () => {
    expect(() => parseFelixConfig({ ETCD_ENDPOINTS: 'https://e:2379', ETCD_CA_CERT_FILE: '/ca', ETCD_CERT_FILE: '/c' }, 'h')).toThrow(/ETCD_CERT_FILE is set but ETCD_KEY_FILE is not/);
  });
});
