/**
 * etcd TLS from certificate files, as calicoctl and Calico's components take
 * it (ETCD_CA_CERT_FILE, ETCD_CERT_FILE, ETCD_KEY_FILE; `etcdCACertFile`...
 * in a config file). Every composition root that opens etcd reads its file
 * names here, so each setting is checked the same way and every error names
 * the setting the user wrote and how to fix it.
 */
import { readFileSync } from 'node:fs';
import { TortieError } from '../errors.js';
import type { EtcdDatastoreOptions } from './etcd.js';

export interface EtcdTlsFiles {
  readonly caFile?: string | undefined;
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
}

/** What the user calls each file setting, for messages: environment variables by default. */
export interface EtcdTlsSettingNames {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export const ETCD_TLS_ENV_NAMES: EtcdTlsSettingNames = Object.freeze({
  caFile: 'ETCD_CA_CERT_FILE',
  certFile: 'ETCD_CERT_FILE',
  keyFile: 'ETCD_KEY_FILE',
});

/** The TLS file settings from an environment; empty values count as unset. */
export function etcdTlsFilesFromEnv(env: Readonly<Record<string, string | undefined>>): EtcdTlsFiles {
  const value = (name: string): string | undefined => (env[name] === '' ? undefined : env[name]);
  return Object.freeze({
    caFile: value(ETCD_TLS_ENV_NAMES.caFile),
    certFile: value(ETCD_TLS_ENV_NAMES.certFile),
    keyFile: value(ETCD_TLS_ENV_NAMES.keyFile),
  });
}

export function hasEtcdTlsFiles(files: EtcdTlsFiles): boolean {
  return files.caFile !== undefined || files.certFile !== undefined || files.keyFile !== undefined;
}

/**
 * Pure: checks that the file settings make sense together and with the
 * endpoints. A client certificate needs its key and the CA that signed etcd's
 * certificate; TLS settings with plain http:// endpoints would make the client
 * speak TLS to a server that does not, which fails far from the cause.
 */
export function checkEtcdTlsSettings(files: EtcdTlsFiles, endpoints: readonly string[], names: EtcdTlsSettingNames = ETCD_TLS_ENV_NAMES): void {
  if ((files.certFile === undefined) !== (files.keyFile === undefined)) {
    const given = files.certFile === undefined ? names.keyFile : names.certFile;
    const missing = files.certFile === undefined ? names.certFile : names.keyFile;
    throw new TortieError('ERR_CONFIG_INVALID', `${given} is set but ${missing} is not: a client certificate needs its key; set both, or neither`);
  }
  if (files.certFile !== undefined && files.caFile === undefined) {
    throw new TortieError(
      'ERR_CONFIG_INVALID',
      `${names.certFile} is set but ${names.caFile} is not: set ${names.caFile} to the CA that signed etcd's server certificate`,
    );
  }
  if (!hasEtcdTlsFiles(files)) return;
  const plain = endpoints.filter((endpoint) => !endpoint.startsWith('https://'));
  if (plain.length > 0) {
    const set = [files.caFile === undefined ? null : names.caFile, files.certFile === undefined ? null : names.certFile].filter((n) => n !== null);
    throw new TortieError(
      'ERR_CONFIG_INVALID',
      `${set.join(' and ')} ${set.length === 1 ? 'is' : 'are'} set, but the etcd endpoint${plain.length === 1 ? '' : 's'} ${plain.join(', ')} ${plain.length === 1 ? 'is' : 'are'} not https://: use https:// endpoints for TLS, or unset the TLS settings`,
    );
  }
}

/**
 * Reads the PEM files for EtcdDatastoreOptions.tls; undefined when no file is
 * set (https:// endpoints then verify etcd against the system's CAs).
 */
export function readEtcdTls(
  files: EtcdTlsFiles,
  endpoints: readonly string[],
  names: EtcdTlsSettingNames = ETCD_TLS_ENV_NAMES,
): EtcdDatastoreOptions['tls'] {
  checkEtcdTlsSettings(files, endpoints, names);
  if (files.caFile === undefined) return undefined;
  const read = (path: string, setting: string): Buffer => {
    let pem: Buffer;
    try {
      pem = readFileSync(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
      throw new TortieError('ERR_CONFIG_INVALID', `${setting}=${path}: ${reason}`, { cause: err });
    }
    if (!pem.includes('-----BEGIN ')) {
      throw new TortieError('ERR_CONFIG_INVALID', `${setting}=${path}: not a PEM file (no "-----BEGIN" line); give the PEM-encoded file`);
    }
    return pem;
  };
  return {
    ca: read(files.caFile, names.caFile),
    ...(files.certFile === undefined ? {} : { cert: read(files.certFile, names.certFile) }),
    ...(files.keyFile === undefined ? {} : { key: read(files.keyFile, names.keyFile) }),
  };
}
