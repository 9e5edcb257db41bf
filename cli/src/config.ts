import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { checkEtcdTlsSettings, ETCD_TLS_ENV_NAMES, etcdTlsFilesFromEnv, hasEtcdTlsFiles, type EtcdTlsFiles, type EtcdTlsSettingNames } from '../../lib/datastore/etcd-tls.js';
import { TortieError } from '../../lib/errors.js';

/**
 * The CLI's configuration, read once from the environment the way calicoctl
 * reads it (DATASTORE_TYPE, ETCD_ENDPOINTS, ETCD_CA_CERT_FILE, ETCD_CERT_FILE,
 * ETCD_KEY_FILE, KUBECONFIG), or from a
 * calicoctl-style config file given with `--config`. Parsed by zod and frozen;
 * nothing else in the CLI reads process.env for these.
 */
export interface CliConfig {
  readonly datastoreType: 'etcdv3' | 'kubernetes';
  /** etcd client URLs, e.g. `http://127.0.0.1:2379`. */
  readonly etcdEndpoints: readonly string[];
  /** PEM files for https:// endpoints; read when the datastore is opened. */
  readonly etcdTlsFiles: EtcdTlsFiles;
  /** What the user called those settings (environment variables or config-file fields), for messages. */
  readonly etcdTlsSettingNames: EtcdTlsSettingNames;
  /** Path of the kubeconfig for the kubernetes datastore; the client's default search when absent. */
  readonly kubeconfigPath: string | undefined;
  /** Where `tortie etcd start` keeps the local etcd's data (its pid and log files sit beside it). */
  readonly etcdDataDir: string;
  /** The etcd binary `tortie etcd start` runs. */
  readonly etcdBinary: string;
}

export const DEFAULT_ETCD_ENDPOINT = 'http://127.0.0.1:2379';
export const DEFAULT_ETCD_DATA_DIR = '/var/lib/tortie/etcd';
export const DEFAULT_ETCD_BINARY = '/usr/bin/etcd';

const endpointUrl = z.string().refine(
  (value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
    } catch {
      // URL throws on anything that isn't a URL; that is exactly the "no" answer.
      return false;
    }
  },
  { message: 'is not an http:// or https:// URL (e.g. http://127.0.0.1:2379)' },
);

const endpointList = z
  .string()
  .transform((value) => value.split(',').map((part) => part.trim()).filter((part) => part !== ''))
  .pipe(z.array(endpointUrl).min(1, { message: 'names no endpoint (e.g. http://127.0.0.1:2379)' }));

const datastoreType = z.enum(['etcdv3', 'kubernetes'], {
  error: (issue) => `${JSON.stringify(issue.input)} is not a datastore type; use etcdv3 or kubernetes`,
});

const emptyAsUndefined = (value: unknown): unknown => (value === '' ? undefined : value);

/** The environment variables the CLI reads, with their defaults. */
const EnvSchema = z.object({
  DATASTORE_TYPE: z.preprocess(emptyAsUndefined, datastoreType.default('etcdv3')),
  ETCD_ENDPOINTS: z.preprocess(emptyAsUndefined, endpointList.default([DEFAULT_ETCD_ENDPOINT])),
  KUBECONFIG: z.preprocess(emptyAsUndefined, z.string().optional()),
  TORTIE_ETCD_DATA_DIR: z.preprocess(emptyAsUndefined, z.string().default(DEFAULT_ETCD_DATA_DIR)),
  TORTIE_ETCD_BINARY: z.preprocess(emptyAsUndefined, z.string().default(DEFAULT_ETCD_BINARY)),
});

/** calicoctl's config file (`kind: CalicoAPIConfig`), also accepted as `TortieAPIConfig`. */
const ConfigFileSchema = z.object({
  apiVersion: z.string().optional(),
  kind: z.enum(['CalicoAPIConfig', 'TortieAPIConfig']),
  metadata: z.unknown().optional(),
  spec: z
    .object({
      datastoreType: datastoreType.optional(),
      etcdEndpoints: endpointList.optional(),
      etcdCACertFile: z.string().min(1).optional(),
      etcdCertFile: z.string().min(1).optional(),
      etcdKeyFile: z.string().min(1).optional(),
      kubeconfig: z.string().optional(),
    })
    .strict(),
});

function describeIssues(issues: readonly z.core.$ZodIssue[], prefix: (path: readonly PropertyKey[]) => string): string {
  return issues.map((issue) => `${prefix(issue.path)}: ${issue.message}`).join('\n');
}

/** Reads the configuration from environment variables. Throws ERR_CONFIG_INVALID naming the variable. */
export function parseConfigFromEnv(env: Readonly<Record<string, string | undefined>>): CliConfig {
  const result = EnvSchema.safeParse(env);
  if (!result.success) {
    const message = describeIssues(result.error.issues, (path) => {
      const variable = String(path[0] ?? 'environment');
      return `${variable}=${JSON.stringify(env[variable] ?? '')}`;
    });
    throw new TortieError('ERR_CONFIG_INVALID', message);
  }
  const parsed = result.data;
  const etcdTlsFiles = etcdTlsFilesFromEnv(env);
  if (parsed.DATASTORE_TYPE === 'etcdv3') checkEtcdTlsSettings(etcdTlsFiles, parsed.ETCD_ENDPOINTS);
  return Object.freeze({
    datastoreType: parsed.DATASTORE_TYPE,
    etcdEndpoints: Object.freeze([...parsed.ETCD_ENDPOINTS]),
    etcdTlsFiles,
    etcdTlsSettingNames: ETCD_TLS_ENV_NAMES,
    kubeconfigPath: parsed.KUBECONFIG,
    etcdDataDir: parsed.TORTIE_ETCD_DATA_DIR,
    etcdBinary: parsed.TORTIE_ETCD_BINARY,
  });
}

/**
 * Reads a calicoctl-style config file; what it doesn't say comes from the
 * environment (and then the defaults), so `--config` can set only the datastore.
 */
export function parseConfigFile(text: string, source: string, env: Readonly<Record<string, string | undefined>>): CliConfig {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (err) {
    throw new TortieError('ERR_CONFIG_INVALID', `${source}: not YAML: ${(err as Error).message}`, { cause: err });
  }
  const result = ConfigFileSchema.safeParse(document);
  if (!result.success) {
    const message = describeIssues(result.error.issues, (path) => `${source}: ${path.join('.') || '(document)'}`);
    throw new TortieError('ERR_CONFIG_INVALID', message);
  }
  const spec = result.data.spec;
  // TLS settings come as a whole from one place: the file when it names any of them, else the environment.
  const fileTls: EtcdTlsFiles = { caFile: spec.etcdCACertFile, certFile: spec.etcdCertFile, keyFile: spec.etcdKeyFile };
  const tlsFromFile = hasEtcdTlsFiles(fileTls);
  // The TLS check runs once below, on the settings in force, not on the environment's alone.
  const fromEnv = parseConfigFromEnv({ ...env, ETCD_CA_CERT_FILE: undefined, ETCD_CERT_FILE: undefined, ETCD_KEY_FILE: undefined });
  const etcdEndpoints = spec.etcdEndpoints === undefined ? fromEnv.etcdEndpoints : Object.freeze([...spec.etcdEndpoints]);
  const etcdTlsFiles = tlsFromFile ? Object.freeze(fileTls) : etcdTlsFilesFromEnv(env);
  const etcdTlsSettingNames: EtcdTlsSettingNames = tlsFromFile
    ? Object.freeze({ caFile: `${source}: spec.etcdCACertFile`, certFile: `${source}: spec.etcdCertFile`, keyFile: `${source}: spec.etcdKeyFile` })
    : ETCD_TLS_ENV_NAMES;
  const datastoreType = spec.datastoreType ?? fromEnv.datastoreType;
  if (datastoreType === 'etcdv3') checkEtcdTlsSettings(etcdTlsFiles, etcdEndpoints, etcdTlsSettingNames);
  return Object.freeze({
    ...fromEnv,
    datastoreType,
    etcdEndpoints,
    etcdTlsFiles,
    etcdTlsSettingNames,
    kubeconfigPath: spec.kubeconfig ?? fromEnv.kubeconfigPath,
  });
}

/** `--config FILE` when given, else the environment. */
export function loadConfig(configFile: string | undefined, env: Readonly<Record<string, string | undefined>>): CliConfig {
  if (configFile === undefined) return parseConfigFromEnv(env);
  let text: string;
  try {
    text = readFileSync(configFile, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new TortieError('ERR_CONFIG_INVALID', `--config ${configFile}: ${reason}`, { cause: err });
  }
  return parseConfigFile(text, configFile, env);
}
