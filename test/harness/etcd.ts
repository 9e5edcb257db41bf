import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throw-away etcd for tests and benchmarks: Debian's `/usr/bin/etcd` on free
 * loopback ports (client and peer) with a temporary data dir. `stop()` kills
 * the process by its pid and removes the data dir.
 */
export interface EtcdInstance {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** The running etcd's pid (a new one after `restart()`). */
  readonly pid: number;
  readonly dataDir: string;
  /** Kills etcd (SIGTERM, then SIGKILL after 5 s) and starts it again on the same ports and data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

interface Placement {
  clientPort: number;
  peerPort: number;
  dataDir: string;
  tls: StartEtcdOptions['tls'];
}

interface Running {
  child: ChildProcess;
  exited: Promise<number | null>;
}

export interface StartEtcdOptions {
  binary?: string;
  /** Serve clients over TLS with this certificate, and require client certificates signed by `caFile`. */
  tls?: { certFile: string; keyFile: string; caFile: string };
  /** How long to wait for `/health` to answer true. */
  readyTimeoutMs?: number;
}

export const ETCD_BINARY = '/usr/bin/etcd';

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdInstance> {
  const binary = options.binary ?? ETCD_BINARY;
  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
  // Two attempts: a port found free can be taken by someone else before etcd binds it.
  let lastError: unknown;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      return await startOnce(binary, readyTimeoutMs, options.tls);
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

async function startOnce(binary: string, readyTimeoutMs: number, tls: StartEtcdOptions['tls']): Promise<EtcdInstance> {
  const placement: Placement = {
    clientPort: await findFreePort(),
    peerPort: await findFreePort(),
    dataDir: await mkdtemp(join(tmpdir(), 'tortie-etcd-')),
    tls,
  };
  let running: Running;
  try {
    running = await spawnEtcd(binary, placement, readyTimeoutMs);
  } catch (err) {
    await rm(placement.dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    endpoint: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${placement.clientPort}`,
    get pid(): number {
      return running.child.pid as number;
    },
    dataDir: placement.dataDir,
    async restart() {
      await killByPid(running.child, running.exited);
      running = await spawnEtcd(binary, placement, readyTimeoutMs);
    },
    async stop() {
      await killByPid(running.child, running.exited);
      await rm(placement.dataDir, { recursive: true, force: true });
    },
  };
}

/** Starts etcd and waits for /health; on failure it is killed and the error carries etcd's stderr. */
async function spawnEtcd(binary: string, placement: Placement, readyTimeoutMs: number): Promise<Running> {
  const { tls } = placement;
  const clientUrl = `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${placement.clientPort}`;
  const peerUrl = `http://127.0.0.1:${placement.peerPort}`;
  const name = 'tortie-test';
  const child = spawn(
    binary,
    [
      `--name=${name}`,
      `--data-dir=${placement.dataDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=${name}=${peerUrl}`,
      '--initial-cluster-state=new',
      '--logger=zap',
      '--log-level=error',
      ...(tls === undefined
        ? []
        : [`--cert-file=${tls.certFile}`, `--key-file=${tls.keyFile}`, `--trusted-ca-file=${tls.caFile}`, '--client-cert-auth']),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderrTail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  let exitCode: number | null | undefined;
  void exited.then((code) => {
    exitCode = code;
  });

  const deadline = Date.now() + readyTimeoutMs;
  while (true) {
    if (spawnError !== undefined) {
      throw new Error(`cannot run ${binary}: ${spawnError.message} (install the etcd-server package)`);
    }
    if (exitCode !== undefined) {
      throw new Error(`etcd exited with code ${exitCode} before it was healthy: ${stderrTail.trim()}`);
    }
    if (await isHealthy(clientUrl, tls)) break;
    if (Date.now() > deadline) {
      await killByPid(child, exited);
      throw new Error(`etcd at ${clientUrl} not healthy after ${readyTimeoutMs} ms: ${stderrTail.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  if (child.pid === undefined) throw new Error('etcd started without a pid');
  return { child, exited };
}

async function isHealthy(clientUrl: string, tls: StartEtcdOptions['tls']): Promise<boolean> {
  try {
    const body = tls === undefined ? await fetchText(clientUrl) : await fetchTextOverTls(clientUrl, tls);
    const health = (JSON.parse(body) as { health?: unknown }).health;
    return health === 'true' || health === true;
  } catch (err) {
    // Not listening yet (connection refused) or answering slowly: keep polling until the deadline.
    void err;
    return false;
  }
}

async function fetchText(clientUrl: string): Promise<string> {
  const response = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
  if (!response.ok) throw new Error(`health: HTTP ${response.status}`);
  return response.text();
}

async function fetchTextOverTls(clientUrl: string, tls: NonNullable<StartEtcdOptions['tls']>): Promise<string> {
  const [ca, cert, key] = await Promise.all([readFile(tls.caFile), readFile(tls.certFile), readFile(tls.keyFile)]);
  return new Promise((resolve, reject) => {
    // etcd requires a client certificate; the server's own pair is signed by the same CA and will do.
    const request = httpsGet(`${clientUrl}/health`, { ca, cert, key, timeout: 1000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve(body));
    });
    request.on('timeout', () => request.destroy(new Error('health: timeout')));
    request.on('error', reject);
  });
}

async function killByPid(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  process.kill(child.pid, 'SIGTERM');
  const timedOut = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((r) => setTimeout(() => r(true), 5000)),
  ]);
  if (timedOut) {
    process.kill(child.pid, 'SIGKILL');
    await exited;
  }
}
