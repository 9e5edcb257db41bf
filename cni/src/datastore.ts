/**
 * The datastore a CNI config names (`datastore_type`, `etcd_endpoints`,
 * `kubernetes.kubeconfig`), and the node name (`nodename`, `nodename_file`,
 * else the host name). Used by the executables' main.ts only.
 */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Datastore } from '../../lib/datastore/types.js';
import type { TortieNetConf } from './request.js';

export const DEFAULT_NODENAME_FILE = '/var/lib/tortie/nodename';

/**
 * Each backend is imported only when the config names it: a CNI call is a
 * fresh process, and loading @kubernetes/client-node in etcd mode (or etcd3 in
 * kubernetes mode) costs start-up time on every pod.
 */
export async function createDatastoreFor(config: TortieNetConf): Promise<Datastore> {
  if (config.datastore_type === 'etcdv3') {
    const { createEtcdDatastore } = await import('../../lib/datastore/etcd.js');
    const endpoints = (config.etcd_endpoints ?? '').split(',').map((e) => e.trim()).filter((e) => e !== '');
    return createEtcdDatastore({ endpoints });
  }
  const { createKubernetesDatastore } = await import('../../lib/datastore/kubernetes.js');
  const kubeconfig = config.kubernetes?.kubeconfig;
  return createKubernetesDatastore(kubeconfig === undefined ? {} : { kubeconfigPath: kubeconfig });
}

export async function nodeNameFor(config: TortieNetConf): Promise<string> {
  if (config.nodename !== undefined) return config.nodename;
  try {
    const fromFile = (await readFile(config.nodename_file ?? DEFAULT_NODENAME_FILE, 'utf8')).trim();
    if (fromFile !== '') return fromFile;
  } catch (err) {
    // No file (tortie node has not written it yet): fall back to the host name, as Calico does.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return hostname();
}
