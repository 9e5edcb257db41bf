import { describe, expect, it } from 'vitest';
import { parseConfigFile, parseConfigFromEnv } from './config.js';

describe('parseConfigFromEnv', () => {
  it('defaults to etcdv3 at http://127.0.0.1:2379, like calicoctl', () => {
    const config = parseConfigFromEnv({});
    expect(config).toEqual({
      datastoreType: 'etcdv3',
      etcdEndpoints: ['http://127.0.0.1:2379'],
      kubeconfigPath: undefined,
      etcdDataDir: '/var/lib/tortie/etcd',
      etcdBinary: '/usr/bin/etcd',
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.etcdEndpoints)).toBe(true);
  });

  it('reads DATASTORE_TYPE, comma-separated ETCD_ENDPOINTS and KUBECONFIG', () => {
    const config = parseConfigFromEnv({
      DATASTORE_TYPE: 'kubernetes',
      ETCD_ENDPOINTS: 'http://10.0.0.1:2379, https://10.0.0.2:2379,',
      KUBECONFIG: '/root/.kube/config',
      TORTIE_ETCD_DATA_DIR: '/tmp/etcd',
    });
    expect(config.datastoreType).toBe('kubernetes');
    expect(config.etcdEndpoints).toEqual(['http://10.0.0.1:2379', 'https://10.0.0.2:2379']);
    expect(config.kubeconfigPath).toBe('/root/.kube/config');
    expect(config.etcdDataDir).toBe('/tmp/etcd');
  });

  it('treats an empty variable as unset', () => {
    expect(parseConfigFromEnv({ DATASTORE_TYPE: '', ETCD_ENDPOINTS: '' }).datastoreType).toBe('etcdv3');
  });

  it.each([
    [{ DATASTORE_TYPE: 'etcd' }, 'DATASTORE_TYPE="etcd": "etcd" is not a datastore type; use etcdv3 or kubernetes'],
    [{ ETCD_ENDPOINTS: '127.0.0.1:2379' }, /^ETCD_ENDPOINTS="127\.0\.0\.1:2379": is not an http:\/\/ or https:\/\/ URL/],
    [{ ETCD_ENDPOINTS: ',' }, /^ETCD_ENDPOINTS=",": names no endpoint/],
  ])('%j is ERR_CONFIG_INVALID naming the variable', (env, message) => {
    expect(() => parseConfigFromEnv(env)).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID', message: expect.stringMatching(message) }));
  });
});

describe('parseConfigFile', () => {
  it('reads calicoctl\'s CalicoAPIConfig; the environment fills in what it leaves out', () => {
    const text = 'apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nmetadata: {}\nspec:\n  datastoreType: etcdv3\n  etcdEndpoints: http://10.1.1.1:2379\n';
    const config = parseConfigFile(text, 'tortie.cfg', { TORTIE_ETCD_DATA_DIR: '/tmp/x' });
    expect(config.etcdEndpoints).toEqual(['http://10.1.1.1:2379']);
    expect(config.etcdDataDir).toBe('/tmp/x');
  });

  it('names the file and field of a mistake', () => {
    const text = 'kind: CalicoAPIConfig\nspec:\n  datastoreTyp: etcdv3\n';
    expect(() => parseConfigFile(text, 'tortie.cfg', {})).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID', message: expect.stringMatching(/^tortie\.cfg: spec: /) }));
  });
});
