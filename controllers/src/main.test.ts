import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createMemoryDatastore } from '../../lib/datastore/memory.js';
import { Kinds } from '../../lib/datastore/kinds.js';
import { TORTIE_API_VERSION } from '../../lib/contract.js';
import { runKubeControllers } from './main.js';

describe('runKubeControllers', () => {
  it('runs the enabled controllers until stopped, then exits 0', async () => {
    const ds = createMemoryDatastore();
    await ds.create(Kinds.IPAMHandle, { apiVersion: TORTIE_API_VERSION, kind: 'IPAMHandle', metadata: { name: 'net.x' }, spec: { handleID: 'net.x', block: {}, deleted: false } });
    const stop = new AbortController();
    const done = runKubeControllers({
      datastore: ds,
      env: { IPAM_LEAK_GRACE_PERIOD: '20ms', RESYNC_INTERVAL: '30ms', HEALTH_LOG_INTERVAL: '10ms' },
      log: pino({ level: 'silent' }),
      signal: stop.signal,
    });
    const deadline = Date.now() + 5_000;
    while ((await ds.list(Kinds.IPAMHandle)).items.length > 0) {
      if (Date.now() > deadline) throw new Error('the empty handle was never collected');
      await new Promise((r) => setTimeout(r, 5));
    }
    stop.abort();
    expect(await done).toBe(0);
  });

  it('rejects a bad setting before starting anything', async () => {
    await expect(runKubeControllers({ datastore: createMemoryDatastore(), env: { ENABLED_CONTROLLERS: 'nope' }, log: pino({ level: 'silent' }) })).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
  });
});
