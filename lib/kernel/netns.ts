/**
 * Network namespaces on the system: whether a namespace file is live, and
 * named namespaces (`ip netns add/del`) for the lab and the tests. How a
 * namespace is referred to (`NetnsRef`, from a CNI_NETNS path) is the pure
 * netns-ref.ts, re-exported here.
 */
import { statfs } from 'node:fs/promises';
import { TortieError } from '../errors.js';
import type { CommandRunner } from './exec.js';
import { netnsRefFromName, type NetnsRef } from './netns-ref.js';

export { NETNS_RUN_DIR, netnsRefFromName, netnsRefFromPath, type NetnsRef } from './netns-ref.js';

/** statfs type of an nsfs mount (linux/magic.h NSFS_MAGIC). */
const NSFS_MAGIC = 0x6e736673;

/** Whether `path` is a live network namespace file (an nsfs mount), not a stale or plain file. */
export async function netnsExists(path: string): Promise<boolean> {
  try {
    return Number((await statfs(path)).type) === NSFS_MAGIC;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw new TortieError('ERR_KERNEL', `cannot stat network namespace ${path}`, { cause: err });
  }
}

/** Named namespaces, for the lab and tests (a CNI plugin never creates namespaces). */
export interface NetnsManager {
  create(name: string): Promise<NetnsRef>;
  /** Deleting a namespace that is not there is success. */
  delete(name: string): Promise<void>;
  exists(ref: NetnsRef): Promise<boolean>;
}

export function createNetnsManager(run: CommandRunner): NetnsManager {
  return {
    async create(name) {
      const ref = netnsRefFromName(name);
      await run('ip', ['netns', 'add', name]);
      return ref;
    },
    async delete(name) {
      const ref = netnsRefFromName(name);
      try {
        await run('ip', ['netns', 'delete', name]);
      } catch (err) {
        // `ip netns delete` fails the same way for a missing name and for a
        // busy mount; look at the file rather than at its message.
        if (await netnsExists(ref.path)) throw err;
      }
    },
    exists: (ref) => netnsExists(ref.path),
  };
}
