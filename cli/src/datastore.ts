import type { Datastore } from '../../lib/datastore/types.js';
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
      const { readEtcdTls } = await import('../../lib/datastore/etcd-tls.js');
      const tls = readEtcdTls(config.etcdTlsFiles, config.etcdEndpoints, config.etcdTlsSettingNames);
      datastore = createEtcdDatastore({ endpoints: [...config.etcdEndpoints], requestTimeoutMs: timeoutMs, ...(tls === undefined ? {} : { tls }) });
    } else {
      const { createKubernetesDatastore } = await import('../../lib/datastore/kubernetes.js');
      datastore = createKubernetesDatastore({
        requestTimeoutMs: timeoutMs,
        ...(config.kubeconfigPath === undefined ? {} : { kubeconfigPath: config.kubeconfigPath }),
      });
    }
  } catch (err) {
    if (hasErrorCode(err, 'ERR_CONFIG_INVALID') || hasErrorCode(err, 'ERR_DATASTORE_UNAVAILABLE')) throw err;
    throw new TortieError('ERR_DATASTORE_UNAVAILABLE', `cannot open the ${describeDatastore(config)}: ${(err as Error).message}`, { cause: err });
  }
  return withDeadline(datastore, timeoutMs, describeDatastore(config), unavailableHint(config));
}

/** What to try when the datastore doesn't answer, appended to the message. */
export function unavailableHint(config: CliConfig): string {
  return config.datastoreType === 'etcdv3'
    ? 'is etcd running? (tortie etcd status; ETCD_ENDPOINTS names where to look)'
    : 'is the API server reachable with this kubeconfig? (KUBECONFIG names it)';
}

/**
 * Races one datastore call against a timer; the loser's result is dropped.
 * An unavailable datastore's message gets the hint, on the same line.
 */
async function bounded<T>(call: () => Promise<T>, timeoutMs: number, what: string, hint: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TortieError('ERR_DATASTORE_UNAVAILABLE', `${what} did not answer within ${timeoutMs / 1000}s`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([call(), timeout]);
  } catch (err) {
    if (!hasErrorCode(err, 'ERR_DATASTORE_UNAVAILABLE')) throw err;
    // grpc-js ends its UNAVAILABLE text with an empty "Resolution note: "; it says nothing, so it goes.
    const message = err.message.replace(/\s*Resolution note:\s*$/, '').replace(/[.\s]+$/, '');
    throw new TortieError('ERR_DATASTORE_UNAVAILABLE', `${message}; ${hint}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

/** The same Datastore with every request bounded by `timeoutMs` (watch is passed through: it is open-ended by design). */
export function withDeadline(datastore: Datastore, timeoutMs: number, what: string, hint: string): Datastore {
  const limit = <T>(call: () => Promise<T>): Promise<T> => bounded(call, timeoutMs, what, hint);
  return {
    type: datastore.type,
    get: (kind, name, namespace) => limit(() => datastore.get(kind, name, namespace)),
    list: (kind, options) => limit(() => datastore.list(kind, options)),
    watch: (kind, options) => datastore.watch(kind, options),
    create: (kind, object) => limit(() => datastore.create(kind, object)),
    update: (kind, object) => limit(() => datastore.update(kind, object)),
    delete: (kind, name, namespace, options) => limit(() => datastore.delete(kind, name, namespace, options)),
    close: () => limit(() => datastore.close()),
  };
}
