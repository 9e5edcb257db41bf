/**
 * GC (CNI 1.1): release every address this network holds for a container
 * the runtime no longer lists in `cni.dev/valid-attachments`. Only handles
 * of this network (`<network>.<containerID>`) whose addresses belong to this
 * node are considered, so one node's runtime never frees another's pods.
 */
import { Kinds } from '../../../lib/datastore/kinds.js';
import { BlockStore, type IpamHandleObject } from '../ipam/block-store.js';
import type { CniRequest } from '../request.js';
import type { CniDeps } from './deps.js';

export async function cmdGc(req: CniRequest, deps: CniDeps): Promise<void> {
  if (req.ipam === null || req.validAttachments === null) return;
  const prefix = `${req.config.name}.`;
  const valid = new Set(req.validAttachments.map((a) => `${prefix}${a.containerID}`));
  const store = deps.blockStore ?? new BlockStore(deps.datastore);
  const blocks = await store.listBlocks();
  const mine = new Set(blocks.filter((b) => b.spec.affinity === `host:${deps.nodeName}`).map((b) => b.spec.cidr));
  const handles = (await deps.datastore.list<IpamHandleObject>(Kinds.IPAMHandle)).items;
  const released: string[] = [];
  for (const h of handles) {
    const id = h.spec.handleID;
    if (!id.startsWith(prefix) || valid.has(id)) continue;
    if (!Object.keys(h.spec.block).some((cidr) => mine.has(cidr))) continue;
    released.push(...(await store.releaseByHandle(id)));
  }
  deps.log.info({ command: 'GC', released }, 'released addresses of attachments the runtime no longer has');
}
