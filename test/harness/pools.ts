import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll } from 'vitest';
import { TORTIE_API_VERSION } from '../../lib/contract.js';
import { createEtcdDatastore, type EtcdDatastore } from '../../lib/datastore/etcd.js';
import { Kinds } from '../../lib/datastore/kinds.js';
import type { Datastore } from '../../lib/datastore/types.js';
import { makePluginDir } from './cni-runner.js';
import { startEtcd, type EtcdInstance } from './etcd.js';

/** An enabled IPPool with no encapsulation and no NAT, as most tests want; `spec` overrides any field. */
export async function createIpPool(ds: Datastore, name: string, cidr: string, spec: Record<string, unknown> = {}): Promise<void> {
  await ds.create(Kinds.IPPool, {
    apiVersion: TORTIE_API_VERSION,
    kind: 'IPPool',
    metadata: { name },
    spec: { cidr, blockSize: 28, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false, disabled: false, ...spec },
  });
}

/** What a CNI integration test runs against: a real etcd holding one IPPool, and a CNI_PATH directory with the plugin. */
export interface CniTestbed {
  readonly etcd: EtcdInstance;
  readonly ds: EtcdDatastore;
  readonly binDir: string;
}

/**
 * Registers the describe block's beforeAll/afterAll that start etcd, create
 * the pool and the plugin directory, and remove them; the fields are usable
 * inside tests (they throw before beforeAll has run).
 */
export function useCniTestbed(plugin: string, poolName: string, poolCidr: string): CniTestbed {
  let state: CniTestbed | null = null;
  const ready = (): CniTestbed => {
    if (state === null) throw new Error('the CNI testbed is used before its beforeAll ran');
    return state;
  };
  beforeAll(async () => {
    if (!existsSync(plugin)) throw new Error(`${plugin} does not exist: run \`npm run build\` first`);
    const etcd = await startEtcd();
    const ds = createEtcdDatastore({ endpoints: [etcd.endpoint] });
    state = { etcd, ds, binDir: '' };
    await createIpPool(ds, poolName, poolCidr);
    state = { etcd, ds, binDir: await makePluginDir({ tortie: plugin }) };
  });
  afterAll(async () => {
    const s = state;
    state = null;
    await s?.ds.close();
    await s?.etcd.stop();
    if (s !== null && s.binDir !== '') await rm(s.binDir, { recursive: true, force: true });
  });
  return {
    get etcd() {
      return ready().etcd;
    },
    get ds() {
      return ready().ds;
    },
    get binDir() {
      return ready().binDir;
    },
  };
}
