/**
 * Network namespaces: what a CNI_NETNS path refers to, and named namespaces
 * (`ip netns add/del`) for the lab and the tests.
 *
 * A namespace is referred to by a `NetnsRef`: its nsfs path, and its name when
 * the path is iproute2's `/run/netns/<name>` (then `ip -n <name>` reaches it;
 * any other path, such as `/proc/<pid>/ns/net`, is entered with nsenter).
 */
import { statfs } from 'node:fs/promises';
import { TortieError } from '../errors.js';
import type { CommandRunner } from './exec.js';

export const NETNS_RUN_DIR = '/run/netns';
/** `/var/run` is a symlink to `/run` on every current distribution; runtimes use either spelling. */
const NETNS_RUN_DIRS = ['/run/netns/', '/var/run/netns/'];
/** statfs type of an nsfs mount (linux/magic.h NSFS_MAGIC). */
const NSFS_MAGIC = 0x6e736673;

export interface NetnsRef {
  /** Absolute path of the namespace file. */
  path: string;
  /** The iproute2 name when `path` is `/run/netns/<name>`, else null. */
  name: string | null;
}

const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The NetnsRef for a CNI_NETNS value, or null when it is not an absolute path
 * (pure: the file is not looked at).
 */
export function netnsRefFromPath(path: string): NetnsRef | null {
  if (!path.startsWith('/') || path.includes('\0') || path.includes('\n')) return null;
  const normal = path.replace(/\/+/g, '/').replace(/\/$/, '');
  for (const dir of NETNS_RUN_DIRS) {
    if (normal.startsWith(dir)) {
      const rest = normal.slice(dir.length);
      if (NAME_RE.test(rest) && rest !== '.' && rest !== '..') return { path: normal, name: rest };
    }
  }
  return { path: normal, name: null };
}

export function netnsRefFromName(name: string): NetnsRef {
  if (!NAME_RE.test(name) || name === '.' || name === '..') {
    throw new TortieError('ERR_USAGE', `"${name}" is not a valid network namespace name (letters, digits, _ . -)`);
  }
  return { path: `${NETNS_RUN_DIR}/${name}`, name };
}

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
