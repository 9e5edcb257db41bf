/**
 * tortie's BGP speaker process: the composition root (STYLE.md §2). Reads its
 * configuration from the environment once, watches the datastore (Node,
 * BGPPeer, BGPConfiguration, IPPool, IPAMBlock, Secret, FelixConfiguration), and after every
 * change (once all watches have listed: the in-sync gate) recomputes the
 * desired state (calculateSpeakerConfig, pure) and hands it to the
 * BgpSpeaker, which reconciles sessions and kernel routes without a restart,
 * and the tunnel model to the TunnelTable, which the RouteTable brings in
 * line before each route apply. Session and tunnel status go to a JSON file
 * for `tortie node status`.
 *
 * Environment (as calico/node): NODENAME (default: hostname), DATASTORE_TYPE
 * (etcdv3 | kubernetes), ETCD_ENDPOINTS, ETCD_CA_CERT_FILE / ETCD_CERT_FILE /
 * ETCD_KEY_FILE (https:// etcd), KUBECONFIG; TORTIE_NAMESPACE (where
 * BGP password Secrets live, default kube-system); TORTIE_BGP_LISTEN_ADDRESS
 * (default 0.0.0.0; the port is BGPConfiguration listenPort);
 * TORTIE_STATUS_FILE (default /var/run/tortie/bgp-status.json);
 * TORTIE_BGP_HOLD_TIME, TORTIE_BGP_CONNECT_RETRY_TIME (seconds, default 90, 5);
 * TORTIE_BGP_RESTARTING=true to announce the graceful-restart R bit.
 *
 * Run: NODENAME=node1 ETCD_ENDPOINTS=http://127.0.0.1:2379 node --import tsx bgp-speaker/src/main.ts
 *
 * Exit codes: 0 on SIGTERM/SIGINT (Cease to every peer; kernel routes stay),
 * 1 on invalid configuration or when kernel routes cannot be programmed.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { parseResource, type BGPConfiguration, type BGPPeer, type FelixConfiguration, type IPAMBlock, type IPPool, type Node } from '../../crds/src/index.js';
import { createEtcdDatastore } from '../../lib/datastore/etcd.js';
import { checkEtcdTlsSettings, etcdTlsFilesFromEnv, readEtcdTls, type EtcdTlsFiles } from '../../lib/datastore/etcd-tls.js';
import { Kinds, type KindInfo } from '../../lib/datastore/kinds.js';
import { createKubernetesDatastore } from '../../lib/datastore/kubernetes.js';
import type { Datastore, StoredObject, Watch } from '../../lib/datastore/types.js';
import { TortieError } from '../../lib/errors.js';
import { runCommand } from '../../lib/kernel/exec.js';
import { createIpRunner } from '../../lib/kernel/ip.js';
import { createLogger, type Logger } from '../../lib/log.js';
import { calculateSpeakerConfig, type DatastoreSnapshot } from './config/desired.js';
import { RouteTable } from './program/route-table.js';
import { TunnelTable } from './program/tunnel-table.js';
import { listenBgp, systemClock, tcpDialer, type BgpListener } from './session/index.js';
import { DEFAULT_STATUS_FILE, type SpeakerStatusFile } from './config/status-file.js';
import { BgpSpeaker } from './speaker.js';


export interface SpeakerProcessConfig {
  readonly nodeName: string;
  readonly datastoreType: 'etcdv3' | 'kubernetes';
  readonly etcdEndpoints: readonly string[];
  /** ETCD_CA_CERT_FILE, ETCD_CERT_FILE, ETCD_KEY_FILE: PEM files for https:// endpoints. */
  readonly etcdTlsFiles: EtcdTlsFiles;
  readonly kubeconfig: string | undefined;
  readonly namespace: string;
  readonly listenAddress: string;
  readonly statusFile: string;
  readonly holdTimeSec: number;
  readonly connectRetryTimeSec: number;
  readonly isRestarting: boolean;
}


const empty = (v: unknown) => (v === '' ? undefined : v);
const EnvSchema = z.object({
  NODENAME: z.preprocess(empty, z.string().optional()),
  DATASTORE_TYPE: z.preprocess(empty, z.enum(['etcdv3', 'kubernetes']).default('etcdv3')),
  ETCD_ENDPOINTS: z.preprocess(empty, z.string().default('http://127.0.0.1:2379')),
  KUBECONFIG: z.preprocess(empty, z.string().optional()),
  TORTIE_NAMESPACE: z.preprocess(empty, z.string().default('kube-system')),
  TORTIE_BGP_LISTEN_ADDRESS: z.preprocess(empty, z.string().default('0.0.0.0')),
  TORTIE_STATUS_FILE: z.preprocess(empty, z.string().default(DEFAULT_STATUS_FILE)),
  TORTIE_BGP_HOLD_TIME: z.preprocess(empty, z.coerce.number().int().refine((n) => n === 0 || (n >= 3 && n <= 65535), 'must be 0 or 3–65535').default(90)),
  TORTIE_BGP_CONNECT_RETRY_TIME: z.preprocess(empty, z.coerce.number().int().min(1).max(3600).default(5)),
  TORTIE_BGP_RESTARTING: z.preprocess(empty, z.enum(['true', 'false']).default('false')),
});

/** Pure: the environment → a frozen config, or ERR_CONFIG_INVALID naming the variables. */
export function parseSpeakerConfig(env: Readonly<Record<string, string | undefined>>, defaultNodeName: string): SpeakerProcessConfig {
  const r = EnvSchema.safeParse(env);
  if (!r.success) {
    const what = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new TortieError('ERR_CONFIG_INVALID', `invalid environment: ${what}`);
  }
  const e = r.data;
  const etcdEndpoints = Object.freeze(e.ETCD_ENDPOINTS.split(',').map((s) => s.trim()).filter(Boolean));
  const etcdTlsFiles = etcdTlsFilesFromEnv(env);
  if (e.DATASTORE_TYPE === 'etcdv3') checkEtcdTlsSettings(etcdTlsFiles, etcdEndpoints);
  return Object.freeze({
    nodeName: e.NODENAME ?? defaultNodeName,
    datastoreType: e.DATASTORE_TYPE,
    etcdEndpoints,
    etcdTlsFiles,
    kubeconfig: e.KUBECONFIG,
    namespace: e.TORTIE_NAMESPACE,
    listenAddress: e.TORTIE_BGP_LISTEN_ADDRESS,
    statusFile: e.TORTIE_STATUS_FILE,
    holdTimeSec: e.TORTIE_BGP_HOLD_TIME,
    connectRetryTimeSec: e.TORTIE_BGP_CONNECT_RETRY_TIME,
    isRestarting: e.TORTIE_BGP_RESTARTING === 'true',
  });
}

/** Secret data values are base64; stringData is plain. */
export function secretValues(object: StoredObject): Record<string, string> {
  const out: Record<string, string> = {};
  const data = (object as { data?: Record<string, string> | null }).data ?? {};
  for (const [k, v] of Object.entries(data)) out[k] = Buffer.from(v, 'base64').toString('utf8');
  const stringData = (object as { stringData?: Record<string, string> | null }).stringData ?? {};
  for (const [k, v] of Object.entries(stringData)) out[k] = v;
  return out;
}

type WatchedKey = 'Node' | 'BGPPeer' | 'BGPConfiguration' | 'IPPool' | 'IPAMBlock' | 'K8sSecret' | 'FelixConfiguration';
const WATCHED: readonly WatchedKey[] = ['Node', 'BGPPeer', 'BGPConfiguration', 'IPPool', 'IPAMBlock', 'K8sSecret', 'FelixConfiguration'];

/**
 * Keeps the latest object of each watched kind and tells `onChange` after
 * every event once each kind has delivered its first complete list.
 */
export class DatastoreMirror {
  readonly #objects = new Map<WatchedKey, Map<string, StoredObject>>();
  readonly #synced = new Set<WatchedKey>();
  readonly #watches: Watch[] = [];

  constructor(
    private readonly datastore: Datastore,
    private readonly namespace: string,
    private readonly log: Logger,
    private readonly onChange: () => void,
  ) {}

  get hasSynced(): boolean {
    return this.#synced.size === WATCHED.length;
  }

  start(): void {
    for (const key of WATCHED) {
      const kind: KindInfo = Kinds[key];
      const objects = new Map<string, StoredObject>();
      this.#objects.set(key, objects);
      const watch = this.datastore.watch(kind, kind.namespaced ? { namespace: this.namespace } : {});
      this.#watches.push(watch);
      void (async () => {
        try {
          for await (const ev of watch) {
            if (ev.type === 'synced' || ev.type === 'resynced') this.#synced.add(key);
            else if (ev.type === 'deleted') objects.delete(ev.object.metadata.name);
            else objects.set(ev.object.metadata.name, ev.object);
            if (this.hasSynced) this.onChange();
          }
        } catch (err) {
          this.log.error({ err, kind: key }, 'datastore watch ended');
        }
      })();
    }
  }

  stop(): void {
    for (const w of this.#watches) w.close();
  }

  #parsed<K extends Exclude<WatchedKey, 'K8sSecret'>>(
    key: K,
  ): (K extends 'Node' ? Node : K extends 'BGPPeer' ? BGPPeer : K extends 'BGPConfiguration' ? BGPConfiguration : K extends 'IPPool' ? IPPool : K extends 'FelixConfiguration' ? FelixConfiguration : IPAMBlock)[] {
    const out = [];
    for (const object of this.#objects.get(key)?.values() ?? []) {
      const r = parseResource(key, object);
      if (r.ok) out.push(r.object);
      else this.log.warn({ kind: key, name: object.metadata.name, issues: r.issues }, 'invalid object ignored');
    }
    return out as never;
  }

  snapshot(nodeName: string): DatastoreSnapshot {
    const configs = this.#parsed('BGPConfiguration');
    const secrets = new Map<string, Record<string, string>>();
    for (const s of this.#objects.get('K8sSecret')?.values() ?? []) secrets.set(s.metadata.name, secretValues(s));
    return {
      nodeName,
      nodes: this.#parsed('Node'),
      bgpConfiguration: configs.find((c) => c.metadata.name === 'default') ?? null,
      bgpPeers: this.#parsed('BGPPeer'),
      pools: this.#parsed('IPPool'),
      blocks: this.#parsed('IPAMBlock'),
      secrets,
      felixConfigurations: this.#parsed('FelixConfiguration'),
    };
  }
}

async function writeStatus(file: string, status: SpeakerStatusFile): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(status, null, 2)}\n`);
  await rename(tmp, file);
}

export function createDatastore(config: SpeakerProcessConfig, log: Logger): Datastore {
  if (config.datastoreType === 'kubernetes') {
    return createKubernetesDatastore({ ...(config.kubeconfig === undefined ? {} : { kubeconfigPath: config.kubeconfig }), logger: log.child({ component: 'datastore' }) });
  }
  const tls = readEtcdTls(config.etcdTlsFiles, config.etcdEndpoints);
  return createEtcdDatastore({ endpoints: [...config.etcdEndpoints], ...(tls === undefined ? {} : { tls }) });
}

/** A running speaker with its kernel programming, hosted by `main` or by the `tortie node` process. */
export interface RunningSpeaker {
  /** Stops sessions (Cease), the listener and the status file; routes stay (graceful restart keeps them useful). */
  stop(): Promise<void>;
}

/**
 * Starts the speaker on an open datastore: mirror the BGP resources, compute
 * the desired sessions, routes and tunnels, and keep them applied. `onFatal`
 * is called once if the kernel cannot be programmed (the host then exits:
 * fail closed). The datastore stays the caller's to close.
 */
export function startSpeakerAgent(config: SpeakerProcessConfig, datastore: Datastore, log: Logger, onFatal: (err: unknown) => void): RunningSpeaker {
  const clock = systemClock();
  let listener: BgpListener | null = null;
  let listenPort: number | null = null;
  let isFinishing = false;
  let statusTimer: ReturnType<typeof setInterval> | null = null;
  let recomputeTimer: ReturnType<typeof setTimeout> | null = null;
  let refreshTimer: ReturnType<typeof setInterval> | null = null;
  let refreshIntervalMs = 0;

  const ip = createIpRunner(runCommand);
  const tunnelTable = new TunnelTable({ ip, log: log.child({ component: 'bgp.tunnels' }) });
  const routeTable = new RouteTable({
    ip,
    tunnels: tunnelTable,
    clock,
    log: log.child({ component: 'bgp.routes' }),
    onFatal: (err) => {
      log.error({ err }, 'cannot program kernel routes (fail closed)');
      onFatal(err);
    },
  });
  const speaker = new BgpSpeaker({
    dialer: tcpDialer(),
    clock,
    routeTable,
    log: log.child({ component: 'bgp.speaker' }),
    holdTimeSec: config.holdTimeSec,
    connectRetryTimeSec: config.connectRetryTimeSec,
    isRestarting: config.isRestarting,
  });

  const ensureListener = async (port: number) => {
    if (listenPort === port && listener !== null) return;
    await listener?.close();
    listener = null;
    listenPort = port;
    try {
      listener = await listenBgp({ host: config.listenAddress, port }, (conn) => speaker.accept(conn));
      log.info({ address: config.listenAddress, port: listener.port }, 'listening');
    } catch (err) {
      // Without a listener we still connect out; the peers' connections are refused meanwhile.
      log.warn({ err, port }, 'cannot listen for BGP connections, will retry on the next change');
      listenPort = null;
    }
  };

  const recompute = () => {
    recomputeTimer = null;
    if (isFinishing) return;
    const desired = calculateSpeakerConfig(mirror.snapshot(config.nodeName));
    for (const p of desired.plan.problems) log.warn(p, 'peer configuration problem');
    if (desired.plan.routerId === null) log.warn({ node: config.nodeName }, 'node has no IPv4 BGP address (Node spec.bgp.ipv4Address): no sessions');
    tunnelTable.setModel(desired.tunnels);
    if (tunnelTable.isDirty) routeTable.markDirty();
    speaker.configure(desired);
    void ensureListener(desired.listenPort);
    if (desired.routeRefreshIntervalMs !== refreshIntervalMs) {
      // Read the kernel back now and then, so a route or tunnel entry someone else removed comes back.
      if (refreshTimer !== null) clearInterval(refreshTimer);
      refreshIntervalMs = desired.routeRefreshIntervalMs;
      refreshTimer =
        refreshIntervalMs > 0
          ? setInterval(() => {
              tunnelTable.resync();
              routeTable.markDirty();
            }, refreshIntervalMs)
          : null;
    }
  };
  const mirror = new DatastoreMirror(datastore, config.namespace, log.child({ component: 'bgp.datastore' }), () => {
    if (recomputeTimer === null) recomputeTimer = setTimeout(recompute, 50);
  });
  mirror.start();

  const publish = () => {
    const identity = speaker.identity;
    const status: SpeakerStatusFile = {
      node: config.nodeName,
      pid: process.pid,
      updatedAt: new Date().toISOString(),
      localAsn: identity?.localAs ?? null,
      routerId: identity?.routerId ?? null,
      peers: speaker.status(),
      tunnels: tunnelTable.status(),
    };
    writeStatus(config.statusFile, status).catch((err: unknown) => log.warn({ err, file: config.statusFile }, 'cannot write the status file'));
  };
  publish();
  statusTimer = setInterval(publish, 1_000);

  return {
    async stop() {
      if (isFinishing) return;
      isFinishing = true;
      if (statusTimer !== null) clearInterval(statusTimer);
      if (recomputeTimer !== null) clearTimeout(recomputeTimer);
      if (refreshTimer !== null) clearInterval(refreshTimer);
      mirror.stop();
      await speaker.stop();
      await listener?.close();
      await rm(config.statusFile, { force: true }).catch(() => undefined); // best effort: a stale file is also recognised by its dead pid
    },
  };
}

export async function main(env: Readonly<Record<string, string | undefined>> = process.env): Promise<number> {
  const log = createLogger({ name: 'bgp' });
  let config: SpeakerProcessConfig;
  try {
    config = parseSpeakerConfig(env, hostname());
  } catch (err) {
    log.error({ err, code: (err as TortieError).code }, 'configuration invalid');
    return 1;
  }
  log.info({ node: config.nodeName, datastore: config.datastoreType, statusFile: config.statusFile }, 'starting');
  const datastore = createDatastore(config, log);
  return new Promise<number>((resolve) => {
    let isFinishing = false;
    const finish = async (code: number) => {
      if (isFinishing) return;
      isFinishing = true;
      await running.stop();
      await datastore.close().catch((err: unknown) => log.warn({ err }, 'closing the datastore failed'));
      log.info({ code }, 'stopped');
      resolve(code);
    };
    const running = startSpeakerAgent(config, datastore, log, () => void finish(1));
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void finish(0));
  });
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
