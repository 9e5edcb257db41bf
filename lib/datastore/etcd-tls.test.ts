import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { etcdTlsFilesFromEnv, readEtcdTls } from './etcd-tls.js';

const dir = mkdtempSync(join(tmpdir(), 'tortie-etcd-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const pem = (name: string, body = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'): string => {
  const path = join(dir, name);
  writeFileSync(path, body);
  return path;
};
const https = ['https://127.0.0.1:2379'];

describe('readEtcdTls', () => {
  it('is undefined without files: https:// endpoints then trust the system CAs', () => {
    expect(readEtcdTls({}, https)).toBeUndefined();
  });

  it('reads the CA alone, or the CA with a client certificate and key', () => {
    const ca = pem('ca.pem');
    expect(readEtcdTls({ caFile: ca }, https)).toEqual({ ca: expect.any(Buffer) });
    const tls = readEtcdTls({ caFile: ca, certFile: pem('cert.pem'), keyFile: pem('key.pem', '-----BEGIN PRIVATE KEY-----\nAA\n') }, https);
    expect(Object.keys(tls ?? {}).sort()).toEqual(['ca', 'cert', 'key']);
  });

  it('names the setting and the path of a file it cannot read', () => {
    expect(() => readEtcdTls({ caFile: join(dir, 'missing.pem') }, https)).toThrow(/^ETCD_CA_CERT_FILE=.*missing\.pem: no such file$/);
  });

  it('refuses a file that is not PEM, naming the setting', () => {
    expect(() => readEtcdTls({ caFile: pem('ca.der', 'binary') }, https)).toThrow(/^ETCD_CA_CERT_FILE=.*: not a PEM file/);
  });

  it('uses the caller\'s names for its settings in messages', () => {
    const names = { caFile: 'etcd_ca_cert_file', certFile: 'etcd_cert_file', keyFile: 'etcd_key_file' };
    expect(() => readEtcdTls({ keyFile: '/k' }, https, names)).toThrow(/^etcd_key_file is set but etcd_cert_file is not/);
  });
});

describe('etcdTlsFilesFromEnv', () => {
  it('treats empty variables as unset', () => {
    expect(etcdTlsFilesFromEnv({ ETCD_CA_CERT_FILE: '', ETCD_CERT_FILE: '/c' })).toEqual({ caFile: undefined, certFile: '/c', keyFile: undefined });
  });
});
