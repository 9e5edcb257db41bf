import type { KindInfo } from '../../lib/datastore/kinds.js';
import type { Datastore, StoredObject } from '../../lib/datastore/types.js';
import { TortieError, hasErrorCode } from '../../lib/errors.js';
import type { CliConfig } from './config.js';

/**
 * Opens the datastore the configuration names. Each backend is imported only
 * when chosen, so `tortie get` against etcd never loads @kubernetes/client-node.
 * Every call is bounded by a deadline: a CLI must not hang on an etcd that
 * doesn't answer, it says so and exits 4.
 */
export const DEFAULT_TIMEOUT_MS = 10_000;

export function describeDatastore(config: CliConfig): string {
  return config.datastoreType === 'etcdv3'
    ? `etcd at ${config.etcdEndpoints.join(',')}`
    : `Kubernetes API server (kubeconfig ${config.kubeconfigPath ?? 'default'})`;
}

export async function openDatastore(config: CliConfig, timeoutMs: number = DEFAULT_TIMEOUT_MS): Promise<Datastore> {
  let datastore: Datastore;
  try {
    if (config.datastoreType === 'etcdv3') {
      const { createEtcdDatastore } = await import('../../lib/datastore/etcd.js');
      datastore = createEtcdDatastore({ endpoints: [...config.etcdEndpoints], requestTimeoutMs: timeoutMs });
    } else {
      const { createKubernetesDatastore } = await import('../../lib/datastore/kubernetes.js');
      datastore = createKubernetesDatastore(
        config.kubeconfigPath === undefined ? {} : { kubeconfigPath: config.kubeconfigPath },
      );
    }
  } catch (err) {
    if (hasErrorCode(err, 'ERR_CONFIG_INVALID') || hasErrorCode(err, 'ERR_DATASTORE_UNAVAILABLE')) throw err;
    throw new TortieError('ERR_DATASTORE_UNAVAILABLE', `cannot open the ${describeDatastore(config)}: ${(err as Error).message}`, { cause: err });
  }
  return withDeadline(datastore, timeoutMs, describeDatastore(config));
}

/** Races one datastore call against a timer; the loser's result is dropped. */
async function bounded<T>(call: () => Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TortieError('ERR_DATASTORE_UNAVAILABLE', `${what} did not answer within ${timeoutMs / 1000}s; is it running? (tortie etcd status)`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([call(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The same Datastore with every request bounded by `timeoutMs` (watch is passed through: it is open-ended by design). */
export function withDeadline(datastore: Datastore, timeoutMs: number, what: string): Datastore {
  return {
    type: datastore.type,
    get: <T extends StoredObject = StoredObject>(kind: KindInfo, name: string, namespace?: string) =>
      bounded(() => datastore.get<T>(kind, name, namespace), timeoutMs, what),
    list: (kind, options) => bounded(() => datastore.list(kind, options), timeoutMs, what),
    watch: (kind, options) => datastore.watch(kind, options),
    create: (kind, object) => bounded(() => datastore.create(kind, object), timeoutMs, what),
    update: (kind, object) => bounded(() => datastore.update(kind, object), timeoutMs, what),
    delete: (kind, name, namespace, options) => bounded(() => datastore.delete(kind, name, namespace, options), timeoutMs, what),
    close: () => bounded(() => datastore.close(), timeoutMs, what),
  } as Datastore;
}
