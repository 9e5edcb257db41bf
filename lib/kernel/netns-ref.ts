/**
 * How tortie refers to a network namespace (pure: no file is looked at).
 *
 * A `NetnsRef` is the namespace file's path, and its iproute2 name when the
 * path is `/run/netns/<name>` (then `ip -n <name>` reaches it; any other path,
 * such as `/proc/<pid>/ns/net`, is entered with nsenter). netns.ts does the I/O.
 */
import { TortieError } from '../errors.js';

export const NETNS_RUN_DIR = '/run/netns';
/** `/var/run` is a symlink to `/run` on every current distribution; runtimes use either spelling. */
const NETNS_RUN_DIRS = ['/run/netns/', '/var/run/netns/'];

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

