import { describe, expect, it } from 'vitest';
import { parseConfigFile, parseConfigFromEnv } from './config.js';

describe('parseConfigFromEnv', () => {
  it('defaults to etcdv3 at http://127.0.0.1:2379, like calicoctl', () => {
    const config = parseConfigFromEnv({});
    expect(config).toEqual({
      datastoreType: 'etcdv3',
      etcdEndpoints: ['http://127.0.0.1:2379'],
      etcdTlsFiles: { caFile: undefined, certFile: undefined, keyFile: undefined },
      etcdTlsSettingNames: { caFile: 'ETCD_CA_CERT_FILE', certFile: 'ETCD_CERT_FILE', keyFile: 'ETCD_KEY_FILE' },
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

describe('etcd TLS settings', () => {
  const https = 'https://127.0.0.1:2379';

  it('takes ETCD_CA_CERT_FILE, ETCD_CERT_FILE and ETCD_KEY_FILE from the environment', () => {
    const config = parseConfigFromEnv({ ETCD_ENDPOINTS: https, ETCD_CA_CERT_FILE: '/c/ca.pem', ETCD_CERT_FILE: '/c/cert.pem', ETCD_KEY_FILE: '/c/key.pem' });
    expect(config.etcdTlsFiles).toEqual({ caFile: '/c/ca.pem', certFile: '/c/cert.pem', keyFile: '/c/key.pem' });
  });

  it.each([
    [{ ETCD_ENDPOINTS: https, ETCD_CA_CERT_FILE: '/ca', ETCD_CERT_FILE: '/cert' }, /^ETCD_CERT_FILE is set but ETCD_KEY_FILE is not/],
    [{ ETCD_ENDPOINTS: https, ETCD_CERT_FILE: '/cert', ETCD_KEY_FILE: '/key' }, /ETCD_CA_CERT_FILE is not: set ETCD_CA_CERT_FILE to the CA/],
    [{ ETCD_CA_CERT_FILE: '/ca' }, /ETCD_CA_CERT_FILE is set, but the etcd endpoint http:\/\/127\.0\.0\.1:2379 is not https:\/\//],
  ])('%j is ERR_CONFIG_INVALID naming the settings and the fix', (env, message) => {
    expect(() => parseConfigFromEnv(env)).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID', message: expect.stringMatching(message) }));
  });

  it('ignores etcd TLS settings when the datastore is kubernetes', () => {
    expect(() => parseConfigFromEnv({ DATASTORE_TYPE: 'kubernetes', ETCD_CERT_FILE: '/cert' })).not.toThrow();
  });

  it('takes calicoctl\'s etcdCACertFile, etcdCertFile and etcdKeyFile from a config file, whole, over the environment', () => {
    const text = `kind: CalicoAPIConfig\nspec:\n  etcdEndpoints: ${https}\n  etcdCACertFile: /f/ca.pem\n`;
    const config = parseConfigFile(text, 'tortie.cfg', { ETCD_CERT_FILE: '/env/cert.pem', ETCD_KEY_FILE: '/env/key.pem' });
    expect(config.etcdTlsFiles).toEqual({ caFile: '/f/ca.pem', certFile: undefined, keyFile: undefined });
    expect(config.etcdTlsSettingNames.caFile).toBe('tortie.cfg: spec.etcdCACertFile');
  });

  it('names the config-file field of an inconsistent TLS setting', () => {
    const text = `kind: CalicoAPIConfig\nspec:\n  etcdEndpoints: ${https}\n  etcdKeyFile: /f/key.pem\n`;
    expect(() => parseConfigFile(text, 'tortie.cfg', {})).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/^tortie\.cfg: spec\.etcdKeyFile is set but tortie\.cfg: spec\.etcdCertFile is not/) }),
    );
  });
});
