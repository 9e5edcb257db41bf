/**
 * tortie-felix: the composition root (STYLE.md §2). Reads its configuration
 * from the environment once (as calicoctl does: DATASTORE_TYPE,
 * ETCD_ENDPOINTS, ETCD_CA_CERT_FILE/ETCD_CERT_FILE/ETCD_KEY_FILE, KUBECONFIG;
 * NODENAME; FELIX_ENDPOINTSTATUSPATHPREFIX), builds the datastore, the NftTable and the loop, and serves
 * /liveness and /readiness.
 *
 * Exit codes: 0 on SIGTERM/SIGINT (the table is left in place, so pods keep
 * their policy while we restart); 1 when the dataplane cannot be programmed
 * (fail closed: the DaemonSet restarts us) or the configuration is invalid.
 */
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { ENDPOINT_STATUS_PATH_PREFIX, ENDPOINT_STATUS_SUBDIR } from '../../lib/contract.js';
import { createEtcdDatastore } from '../../lib/datastore/etcd.js';
import { checkEtcdTlsSettings, etcdTlsFilesFromEnv, readEtcdTls, type EtcdTlsFiles } from '../../lib/datastore/etcd-tls.js';
import { createKubernetesDatastore } from '../../lib/datastore/kubernetes.js';
import type { Datastore } from '../../lib/datastore/types.js';
import { TortieError } from '../../lib/errors.js';
import { createLogger, type Logger } from '../../lib/log.js';
import { EndpointStatusFiles } from './dataplane/endpoint-status.js';
import { NftTable } from './dataplane/nft-table.js';
import { FelixLoop } from './loop.js';

export interface FelixConfig {
  readonly datastoreType: 'etcdv3' | 'kubernetes';
  readonly etcdEndpoints: readonly string[];
  /** ETCD_CA_CERT_FILE, ETCD_CERT_FILE, ETCD_KEY_FILE: PEM files for https:// endpoints. */
  readonly etcdTlsFiles: EtcdTlsFiles;
  readonly kubeconfig: string | undefined;
  readonly nodeName: string;
  /** 0 turns the health server off. */
  readonly healthPort: number;
  readonly healthHost: string;
  /** Consecutive failed applies before exiting. */
  readonly maxApplyFailures: number;
  /** Network namespace to program (path), for the lab and tests; default ours. */
  readonly netns: string | undefined;
  /**
   * Where endpoint status files go (FELIX_ENDPOINTSTATUSPATHPREFIX + `/endpoint-status`,
   * Calico's setting); null when FELIX_ENDPOINTSTATUSPATHPREFIX is `none`.
   */
  readonly endpointStatusDir: string | null;
}

const empty = (v: unknown) => (v === '' ? undefined : v);
const EnvSchema = z.object({
  DATASTORE_TYPE: z.preprocess(empty, z.enum(['etcdv3', 'kubernetes']).default('etcdv3')),
  ETCD_ENDPOINTS: z.preprocess(empty, z.string().default('http://127.0.0.1:2379')),
  KUBECONFIG: z.preprocess(empty, z.string().optional()),
  NODENAME: z.preprocess(empty, z.string().optional()),
  FELIX_HEALTHPORT: z.preprocess(empty, z.coerce.number().int().min(0).max(65535).default(9099)),
  FELIX_HEALTHHOST: z.preprocess(empty, z.string().default('localhost')),
  FELIX_MAX_APPLY_FAILURES: z.preprocess(empty, z.coerce.number().int().min(1).default(10)),
  FELIX_NETNS: z.preprocess(empty, z.string().startsWith('/').optional()),
  FELIX_ENDPOINTSTATUSPATHPREFIX: z.preprocess(empty, z.union([z.literal('none'), z.string().startsWith('/')]).default(ENDPOINT_STATUS_PATH_PREFIX)),
});

/** Pure: the environment → a frozen config, or ERR_CONFIG_INVALID naming the variables. */
export function parseFelixConfig(env: Readonly<Record<string, string | undefined>>, defaultNodeName: string): FelixConfig {
  const r = EnvSchema.safeParse(env);
  if (!r.success) {
    const what = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new TortieError('ERR_CONFIG_INVALID', `invalid environment: ${what}`, { details: { issues: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) } });
  }
  const e = r.data;
  const etcdEndpoints = Object.freeze(e.ETCD_ENDPOINTS.split(',').map((s) => s.trim()).filter(Boolean));
  const etcdTlsFiles = etcdTlsFilesFromEnv(env);
  if (e.DATASTORE_TYPE === 'etcdv3') checkEtcdTlsSettings(etcdTlsFiles, etcdEndpoints);
  return Object.freeze({
    datastoreType: e.DATASTORE_TYPE,
    etcdEndpoints,
    etcdTlsFiles,
    kubeconfig: e.KUBECONFIG,
    nodeName: e.NODENAME ?? defaultNodeName,
    healthPort: e.FELIX_HEALTHPORT,
    healthHost: e.FELIX_HEALTHHOST,
    maxApplyFailures: e.FELIX_MAX_APPLY_FAILURES,
    netns: e.FELIX_NETNS,
    endpointStatusDir: e.FELIX_ENDPOINTSTATUSPATHPREFIX === 'none' ? null : join(e.FELIX_ENDPOINTSTATUSPATHPREFIX, ENDPOINT_STATUS_SUBDIR),
  });
}

export function createDatastore(config: FelixConfig, log: Logger): Datastore {
  if (config.datastoreType === 'kubernetes') {
    return createKubernetesDatastore({ ...(config.kubeconfig === undefined ? {} : { kubeconfigPath: config.kubeconfig }), logger: log.child({ component: 'datastore' }) });
  }
  const tls = readEtcdTls(config.etcdTlsFiles, config.etcdEndpoints);
  return createEtcdDatastore({ endpoints: [...config.etcdEndpoints], ...(tls === undefined ? {} : { tls }) });
}

/** /liveness: 200 unless we gave up. /readiness: 200 once in sync and the kernel holds the state. */
export function startHealthServer(loop: Pick<FelixLoop, 'ready' | 'live'>, config: Pick<FelixConfig, 'healthPort' | 'healthHost'>): Server {
  const server = createServer((req, res) => {
    const ok = req.url === '/liveness' ? loop.live : req.url === '/readiness' ? loop.ready : null;
    res.statusCode = ok === null ? 404 : ok ? 200 : 503;
    res.end(ok === null ? 'not found\n' : ok ? 'ok\n' : 'not ready\n');
  });
  server.listen(config.healthPort, config.healthHost);
  return server;
}

/** A running policy agent, hosted by `main` or by the `tortie node` process. */
export interface RunningPolicyAgent {
  readonly loop: FelixLoop;
  /** Stops watching; the table stays, so pods keep their policy while we restart. */
  stop(): Promise<void>;
}

/**
 * Checks nft (ERR_CONFIG_INVALID / ERR_NFT_APPLY when it is unusable), then
 * starts the loop on an open datastore. `onFatal` is called once when the
 * dataplane cannot be programmed (the host then exits: fail closed). The
 * datastore stays the caller's to close.
 */
export async function startPolicyAgent(config: FelixConfig, datastore: Datastore, log: Logger, onFatal: (err: unknown) => void): Promise<RunningPolicyAgent> {
  const table = new NftTable({
    log: log.child({ component: 'felix.nft' }),
    maxConsecutiveFailures: config.maxApplyFailures,
    ...(config.netns === undefined ? {} : { netns: config.netns }),
  });
  const version = await table.checkNft();
  log.info({ version, node: config.nodeName, datastore: config.datastoreType }, 'starting');
  const loop = new FelixLoop({
    datastore,
    nodeName: config.nodeName,
    table,
    log: log.child({ component: 'felix.loop' }),
    ...(config.endpointStatusDir === null ? {} : { endpointStatus: new EndpointStatusFiles(config.endpointStatusDir) }),
    onFatal: (err) => {
      log.error({ err, code: (err as TortieError).code }, 'cannot program the dataplane (fail closed)');
      onFatal(err);
    },
  });
  loop.start();
  return { loop, stop: () => loop.stop() };
}

export async function main(env: Readonly<Record<string, string | undefined>> = process.env): Promise<number> {
  const log = createLogger({ name: 'felix' });
  let config: FelixConfig;
  try {
    config = parseFelixConfig(env, hostname());
  } catch (err) {
    log.error({ err, code: (err as TortieError).code }, 'configuration invalid');
    return 1;
  }
  const datastore = createDatastore(config, log);
  let isFinishing = false;
  let server: Server | undefined;
  let agent: RunningPolicyAgent | undefined;
  let resolveExit: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => (resolveExit = resolve));
  const finish = async (code: number) => {
    if (isFinishing) return;
    isFinishing = true;
    await agent?.stop();
    server?.close();
    await datastore.close().catch((err: unknown) => log.warn({ err }, 'closing the datastore failed'));
    resolveExit(code);
  };
  try {
    agent = await startPolicyAgent(config, datastore, log, () => void finish(1));
  } catch (err) {
    log.error({ err, code: (err as TortieError).code }, 'nft unusable');
    await datastore.close().catch(() => undefined);
    return 1;
  }
  if (config.healthPort !== 0) server = startHealthServer(agent.loop, config);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void finish(0));
  return exited;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
}
