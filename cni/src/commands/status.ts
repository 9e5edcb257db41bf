/**
 * STATUS (CNI 1.1): can ADD work now? It can when the datastore answers and
 * holds at least one IP pool.
 */
import { Kinds } from '../../../lib/datastore/kinds.js';
import { CniError, CniErrorCodes } from '../errors.js';
import type { CniDeps } from './deps.js';

export async function cmdStatus(deps: CniDeps): Promise<void> {
  let pools: number;
  try {
    pools = (await deps.datastore.list(Kinds.IPPool)).items.length;
  } catch (err) {
    throw new CniError(CniErrorCodes.PluginNotAvailable, `the ${deps.datastore.type} datastore does not answer: ${(err as Error).message}`, { cause: err });
  }
  if (pools === 0) throw new CniError(CniErrorCodes.PluginNotAvailable, 'no IPPool exists yet: the node agent creates the default pool at start');
}
