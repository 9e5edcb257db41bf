import { describe, expect, it } from 'vitest';
import { createMemoryDatastore } from '../../../lib/datastore/memory.js';
import { Kinds } from '../../../lib/datastore/kinds.js';
import { createLogger } from '../../../lib/log.js';
import { TORTIE_API_VERSION } from '../../../lib/contract.js';
import { parseCniRequest } from '../request.js';
import type { CniError } from '../errors.js';
import { cmdAdd, cmdCheck, cmdDel, cmdGc, cmdStatus } from './commands.js';

const log = createLogger({ level: 'silent' });
const now = () => new Date('2026-01-01T00:00:00Z');

async function setup(pools: [string, string, Record<string, unknown>?][] = [['default-ipv4-ippool', '10.1.0.0/24']]) {
  const datastore = createMemoryDatastore();
  for (const [name, cidr, extra] of pools) {
    await datastore.create(Kinds.IPPool, { apiVersion: TORTIE_API_VERSION, kind: 'IPPool', metadata: { name }, spec: { cidr, ...extra } });
  }
  return datastore;
}

const request = (command: string, containerId: string, extra: Record<string, unknown> = {}) =>
  parseCniRequest(
    { CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_NETNS: '/x', CNI_IFNAME: 'eth0', CNI_ARGS: `K8S_POD_NAMESPACE=default;K8S_POD_NAME=p-${containerId}` },
    JSON.stringify({ cniVersion: '1.1.0', name: 'net', type: 'tortie', ipam: { type: 'tortie-ipam' }, ...extra }),
    { plugin: 'tortie-ipam' },
  );

async function code(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return (err as CniError).code;
  }
}

describe('tortie-ipam commands', () => {
  it('ADD records node, namespace, pod and time on the address, and DEL releases it', async () => {
    const datastore = await setup();
    const deps = { datastore, nodeName: 'n1', log, now };
    expect(await cmdAdd(request('ADD', 'c1'), deps)).toEqual({ cniVersion: '1.1.0', ips: [{ address: '10.1.0.0/32' }] });
    const block = await datastore.get<{ spec: { attributes: unknown[] } } & import('../../../lib/datastore/types.js').StoredObject>(Kinds.IPAMBlock, '10-1-0-0-26');
    expect(block?.spec.attributes).toEqual([
      { handle_id: 'net.c1', secondary: { node: 'n1', namespace: 'default', pod: 'p-c1', timestamp: '2026-01-01T00:00:00.000Z' } },
    ]);
    await cmdDel(request('DEL', 'c1'), deps);
    await cmdDel(request('DEL', 'c1'), deps);
    expect((await datastore.list(Kinds.IPAMHandle)).items).toEqual([]);
  });

  it('the node labels choose pools by nodeSelector', async () => {
    const datastore = await setup([
      ['rack-a', '10.1.0.0/24', { nodeSelector: "rack == 'a'" }],
      ['rack-b', '10.2.0.0/24', { nodeSelector: "rack == 'b'" }],
    ]);
    await datastore.create(Kinds.Node, { apiVersion: TORTIE_API_VERSION, kind: 'Node', metadata: { name: 'n1', labels: { rack: 'b' } }, spec: {} });
    const out = await cmdAdd(request('ADD', 'c1'), { datastore, nodeName: 'n1', log, now });
    expect(out.ips).toEqual([{ address: '10.2.0.0/32' }]);
  });

  it('CHECK is 105 when an address of prevResult is not held', async () => {
    const datastore = await setup();
    const deps = { datastore, nodeName: 'n1', log, now };
    const added = await cmdAdd(request('ADD', 'c1'), deps);
    await cmdCheck(request('CHECK', 'c1', { prevResult: added }), deps);
    expect(await code(cmdCheck(request('CHECK', 'c1', { prevResult: { cniVersion: '1.1.0', ips: [{ address: '10.1.0.9/32' }] } }), deps))).toBe(105);
  });

  it('STATUS is 50 without a usable pool', async () => {
    const datastore = await setup([['off', '10.1.0.0/24', { disabled: true }]]);
    expect(await code(cmdStatus(request('STATUS', 'x'), { datastore, nodeName: 'n1', log }))).toBe(50);
  });

  it('GC never releases another node\'s allocation, nor a valid one', async () => {
    const datastore = await setup();
    await cmdAdd(request('ADD', 'keep'), { datastore, nodeName: 'n1', log, now });
    await cmdAdd(request('ADD', 'gone'), { datastore, nodeName: 'n1', log, now });
    await cmdAdd(request('ADD', 'theirs'), { datastore, nodeName: 'n2', log, now });
    await cmdGc(request('GC', 'x', { 'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'eth0' }] }), { datastore, nodeName: 'n1', log });
    const handles = (await datastore.list(Kinds.IPAMHandle)).items.map((h) => h.metadata.name).sort();
    expect(handles).toEqual(['net.keep', 'net.theirs']);
  });
});
