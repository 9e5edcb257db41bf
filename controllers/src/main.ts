/**
 * `tortie kube-controllers`: the composition root (STYLE.md §2). Reads the
 * controllers' config, builds the enabled loops on the datastore the CLI
 * opened (DATASTORE_TYPE / ETCD_ENDPOINTS / KUBECONFIG, as every `tortie`
 * command), runs them until SIGTERM or SIGINT, and logs a health line
 * periodically. Exits non-zero (the Deployment restarts us) when a loop has
 * not synced within SYNC_TIMEOUT: running on without inputs would be running
 * in an unknown state.
 */
import type { Datastore } from '../../lib/datastore/types.js';
import { createLogger, type Logger } from '../../lib/log.js';
import { parseControllersConfig, type ControllersConfig } from './config.js';
import { IpamGarbageCollector } from './ipam-gc/controller.js';
import { NodeCleanupController } from './node-cleanup/controller.js';
import type { Reconciler } from './runtime/reconciler.js';

export interface KubeControllersOptions {
  datastore: Datastore;
  env: Readonly<Record<string, string | undefined>>;
  log?: Logger;
  /** Stops the controllers when aborted; by default SIGTERM and SIGINT do. */
  signal?: AbortSignal;
}

interface Running {
  name: string;
  reconciler: Reconciler;
  stop(): Promise<void>;
}

function build(config: ControllersConfig, datastore: Datastore, log: Logger): Running[] {
  const out: Running[] = [];
  if (config.enabled.includes('node')) {
    const c = new NodeCleanupController({ datastore, log, gracePeriodMs: config.nodeGracePeriodMs, resyncIntervalMs: config.resyncIntervalMs });
    c.start();
    out.push({ name: 'node-cleanup', reconciler: c.reconciler, stop: () => c.stop() });
  }
  if (config.enabled.includes('ipam')) {
    const c = new IpamGarbageCollector({ datastore, log, gracePeriodMs: config.ipamLeakGracePeriodMs, resyncIntervalMs: config.resyncIntervalMs });
    c.start();
    out.push({ name: 'ipam-gc', reconciler: c.reconciler, stop: () => c.stop() });
  }
  return out;
}

function stopSignal(given: AbortSignal | undefined): { signal: AbortSignal; dispose(): void } {
  if (given !== undefined) return { signal: given, dispose: () => {} };
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    },
  };
}

/** Runs until stopped; resolves with the exit code (0 when stopped, 1 when failing closed). */
export async function runKubeControllers(options: KubeControllersOptions): Promise<0 | 1> {
  const config = parseControllersConfig(options.env);
  const base = options.log ?? createLogger({ name: 'tortie-kube-controllers' });
  const log = base.child({ component: 'controllers.main' });
  const { signal, dispose } = stopSignal(options.signal);
  log.info({ datastore: options.datastore.type, ...config }, 'starting');
  const running = build(config, options.datastore, base);
  const startedMs = Date.now();

  let health: NodeJS.Timeout | undefined;
  const exitCode = await new Promise<0 | 1>((resolve) => {
    health = setInterval(() => {
      for (const r of running) {
        const h = r.reconciler.health();
        if (!h.hasSynced && Date.now() - startedMs > config.syncTimeoutMs) {
          log.error({ controller: r.name, syncTimeoutMs: config.syncTimeoutMs, lastError: h.lastError }, 'not in sync in time; exiting so we are restarted');
          resolve(1);
          return;
        }
        const { name, ...rest } = h;
        log[h.consecutiveFailures > 0 ? 'warn' : 'info']({ controller: name, ...rest }, 'health');
      }
    }, config.healthLogIntervalMs);
    if (signal.aborted) resolve(0);
    else signal.addEventListener('abort', () => resolve(0), { once: true });
    void Promise.all(running.map((r) => r.reconciler.waitForSync())).then(() => {
      if (!signal.aborted) log.info({ controllers: running.map((r) => r.name) }, 'all controllers in sync');
    });
  }).finally(() => {
    clearInterval(health);
    dispose();
  });

  log.info({ exitCode }, 'stopping');
  await Promise.all(running.map((r) => r.stop()));
  return exitCode;
}
