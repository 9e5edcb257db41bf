/**
 * The CNI agent: a long-running process on the node that answers the CNI
 * plugin over a Unix socket with the plugin's own code (run.ts `runCni`), but
 * with warm dependencies: the datastore client stays connected, the modules
 * stay loaded, the kernel runners are made once. `tortie cni-agent` runs it
 * alone; `startCniAgent` lets the node agent host it.
 *
 * Per request: decode the frame (frame.ts), choose the warm datastore the
 * config names, run the command with the container's requests one at a time,
 * and write the plugin's stdout and exit code back. Nothing here is a second
 * implementation of a command.
 *
 * Robustness: one request per connection; a frame must arrive whole within
 * `frameTimeoutMs` and stay under `maxFrameBytes`; a malformed one closes the
 * connection (the plugin then does the job itself). A client that goes away
 * mid-request does not cancel the work: it completes (or undoes itself, as
 * ADD does on failure), and the plugin's retry, being idempotent, gets the
 * same answer.
 */
import { chmod, mkdir, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { CNI_AGENT_SOCKET } from '../../../lib/contract.js';
import type { Datastore } from '../../../lib/datastore/types.js';
import { TortieError } from '../../../lib/errors.js';
import { runCommand } from '../../../lib/kernel/exec.js';
import { defaultSpawnerBinary, startSpawner } from '../../../lib/kernel/spawner.js';
import type { Logger } from '../../../lib/log.js';
import type { DatapathRunners } from '../attach.js';
import { parseCniRequest, parseCommand, type CniRequest, type TortieNetConf } from '../request.js';
import { createDatapathRunners, nodeNameOf, openDatastore, runCni, type DepsFactory } from '../run.js';
import { isAnswering } from './client.js';
import { FrameReader, MAX_FRAME_BYTES, decodeRequest, encodeResponse, type AgentRequest, type AgentResponse } from './frame.js';
import { KeyedMutex } from './keyed-mutex.js';
import { SerializedBlockStore } from './serialized-block-store.js';

export interface CniAgentOptions {
  log: Logger;
  /** Default CNI_AGENT_SOCKET (lib/contract.ts). Its directory is made 0700 if missing; the socket is 0600. */
  socketPath?: string;
  /**
   * The datastore that serves a config; null when this agent must not serve it
   * (the plugin then does the job itself). Default: the datastore the config
   * names, opened once per distinct datastore and kept open.
   */
  datastoreFor?: (config: TortieNetConf) => Promise<Datastore | null>;
  /** The kernel (default: this host's, as the plugin uses it). */
  runners?: DatapathRunners;
  /** A request frame must arrive whole within this time after connecting. Default 5 s. */
  frameTimeoutMs?: number;
  maxFrameBytes?: number;
}

export interface CniAgent {
  readonly socketPath: string;
  /** Requests being served now. */
  readonly inFlight: number;
  /** Stops accepting, waits for requests in flight, closes the datastores it opened, removes the socket. */
  close(): Promise<void>;
}

interface WarmDatastore {
  datastore: Datastore;
  blockStore: SerializedBlockStore;
}

function datastoreKeyOf(config: TortieNetConf): string {
  return JSON.stringify([config.datastore_type, config.etcd_endpoints ?? '', config.kubernetes?.kubeconfig ?? '']);
}

async function listen(server: Server, socketPath: string): Promise<void> {
  // The socket is created with the process umask; 0177 makes it 0600 from the start, not after a chmod.
  const previousUmask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(previousUmask);
  }
  await chmod(socketPath, 0o600);
}

export async function startCniAgent(options: CniAgentOptions): Promise<CniAgent> {
  const log = options.log.child({ component: 'cni.agent' });
  const socketPath = options.socketPath ?? CNI_AGENT_SOCKET;
  const frameTimeoutMs = options.frameTimeoutMs ?? 5_000;
  const maxFrameBytes = options.maxFrameBytes ?? MAX_FRAME_BYTES;
  // `ip` and delegated plugins run through small helper processes: forking this Node process costs ~6 ms of its thread each.
  const spawner = await startSpawner({ log });
  if (spawner === null) log.warn({ binary: defaultSpawnerBinary() }, 'tortie-spawner is not built or cannot run commands; running them by forking this process');
  const run = spawner?.run ?? runCommand;
  const runners = options.runners ?? (await createDatapathRunners(run, { enterNetnsWithRunner: spawner !== null }));
  const warm = new Map<string, Promise<WarmDatastore | null>>();
  const opened: Datastore[] = [];
  const containers = new KeyedMutex();
  const inFlight = new Set<Promise<void>>();

  const datastoreFor =
    options.datastoreFor ??
    (async (config: TortieNetConf) => {
      const ds = await openDatastore(config);
      opened.push(ds);
      return ds;
    });

  function warmFor(config: TortieNetConf): Promise<WarmDatastore | null> {
    const key = datastoreKeyOf(config);
    let entry = warm.get(key);
    if (entry === undefined) {
      entry = datastoreFor(config).then((datastore) => (datastore === null ? null : { datastore, blockStore: new SerializedBlockStore(datastore) }));
      // A datastore that failed to open is tried again by the next request, not remembered as failed.
      entry.catch(() => warm.delete(key));
      warm.set(key, entry);
    }
    return entry;
  }

  async function serve(request: AgentRequest): Promise<AgentResponse> {
    const env = request.env;
    const stdin = Buffer.from(request.stdin).toString('utf8');
    let req: CniRequest | null = null;
    try {
      if (parseCommand(env) !== 'VERSION') req = parseCniRequest(env, stdin, { plugin: 'tortie' });
    } catch (err) {
      // A request runCni rejects: it answers with the same CNI error the plugin would print.
      log.debug({ err }, 'request does not parse; runCni reports why');
    }
    if (req === null) return served(await runCni(env, stdin, refuseDeps, { closeDatastore: false, log }));
    const store = await warmFor(req.config);
    if (store === null) return { status: 'unserved', reason: `this agent does not serve datastore ${datastoreKeyOf(req.config)}` };
    const makeDeps: DepsFactory = async (r, l, e) => ({
      datastore: store.datastore,
      blockStore: store.blockStore,
      runners,
      nodeName: nodeNameOf(r.config, e),
      log: l,
      runPlugin: run,
    });
    const started = Date.now();
    const parsed = req;
    const outcome = await containers.run(req.containerId ?? '', () => runCni(env, stdin, makeDeps, { closeDatastore: false, log, request: parsed }));
    log.debug({ command: req.command, containerId: req.containerId, exitCode: outcome.exitCode, ms: Date.now() - started }, 'request served');
    return served(outcome);
  }

  function onConnection(socket: Socket): void {
    const reader = new FrameReader(maxFrameBytes);
    let received = false;
    const drop = (reason: string): void => {
      log.warn({ reason }, 'dropped a connection');
      socket.destroy();
    };
    const timer = setTimeout(() => drop('no complete request in time'), frameTimeoutMs);
    socket.on('data', (chunk: Buffer) => {
      if (received) return drop('bytes after the request');
      const frames = reader.push(chunk);
      if (!frames.ok) return drop(frames.reason);
      const body = frames.value[0];
      if (body === undefined) return;
      received = true;
      clearTimeout(timer);
      const decoded = decodeRequest(body);
      if (!decoded.ok) return drop(decoded.reason);
      const work = serve(decoded.value).then(
        (response) => {
          if (socket.writable) socket.end(encodeResponse(response));
          else log.info('the plugin went away before the answer; the work is done and a retry gets the same answer');
        },
        (err: unknown) => {
          // serve() turns every command failure into a CNI error; this is a bug or a datastore that cannot be opened.
          log.error({ err }, 'request failed outside the command; the plugin will do the job itself');
          socket.destroy();
        },
      );
      inFlight.add(work);
      void work.finally(() => inFlight.delete(work));
    });
    // A plugin that disconnects makes EPIPE/ECONNRESET here: nothing to do, the work goes on.
    socket.on('error', (err) => log.debug({ err }, 'connection error'));
    socket.on('close', () => clearTimeout(timer));
  }

  await mkdir(dirname(socketPath), { recursive: true, mode: 0o700 });
  if (await isAnswering(socketPath)) {
    throw new TortieError('ERR_CONFIG_INVALID', `another CNI agent already answers on ${socketPath}; stop it first or choose another --socket`, { details: { socketPath } });
  }
  await unlink(socketPath).catch((err: NodeJS.ErrnoException) => {
    // No file is the usual case; a socket file left by a killed agent is removed.
    if (err.code !== 'ENOENT') throw err;
  });
  const server = createServer(onConnection);
  server.maxConnections = 512;
  await listen(server, socketPath);
  log.info({ socketPath }, 'CNI agent listening');

  return {
    socketPath,
    get inFlight() {
      return inFlight.size;
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.allSettled([...inFlight]);
      await Promise.allSettled(opened.map((ds) => ds.close()));
      await spawner?.close();
      await unlink(socketPath).catch((err: NodeJS.ErrnoException) => {
        // server.close() normally removes it already.
        if (err.code !== 'ENOENT') throw err;
      });
      log.info({ socketPath }, 'CNI agent stopped');
    },
  };
}

function served(outcome: { stdout: string; exitCode: number }): AgentResponse {
  return { status: 'served', exitCode: outcome.exitCode, stdout: Buffer.from(outcome.stdout === '' ? '' : `${outcome.stdout}\n`, 'utf8') };
}

/** For requests that fail before needing dependencies (runCni reports them); asking for any is a bug. */
const refuseDeps: DepsFactory = async () => {
  throw new TortieError('ERR_USAGE', 'the CNI agent built no dependencies for a request that does not parse');
};
