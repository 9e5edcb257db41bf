import { TORTIE_API_VERSION } from '../../lib/contract.js';
import { Kinds } from '../../lib/datastore/kinds.js';
import type { Datastore } from '../../lib/datastore/types.js';

/** An enabled IPPool with no encapsulation and no NAT, as most tests want; `spec` overrides any field. */
export async function createIpPool(ds: Datastore, name: string, cidr: string, spec: Record<string, unknown> = {}): Promise<void> {
  await ds.create(Kinds.IPPool, {
    apiVersion: TORTIE_API_VERSION,
    kind: 'IPPool',
    metadata: { name },
    spec: { cidr, blockSize: 28, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false, disabled: false, ...spec },
  });
}
