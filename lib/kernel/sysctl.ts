/**
 * Kernel parameters under /proc/sys, written directly (no `sysctl` process).
 *
 * /proc/sys/net shows the network namespace of the process that opens the
 * file, so this writer acts on the caller's own namespace: the host's for the
 * CNI plugin and the node agent. Keys are paths relative to /proc/sys with
 * slashes (`net/ipv4/conf/tor1a2b/proxy_arp`), not dotted names, because
 * interface names may contain dots (`vxlan.tortie`).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { TortieError } from '../errors.js';

export interface SysctlSetting {
  key: string;
  value: string;
}

export interface Sysctl {
  read(key: string): Promise<string>;
  write(key: string, value: string): Promise<void>;
}

export const PROC_SYS = '/proc/sys';

function checkKey(key: string): void {
  if (key.startsWith('/') || key.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw new TortieError('ERR_KERNEL', `invalid sysctl key "${key}" (want a relative path such as net/ipv4/ip_forward)`);
  }
}

export function createProcSysctl(root: string = PROC_SYS): Sysctl {
  return {
    async read(key) {
      checkKey(key);
      try {
        return (await readFile(`${root}/${key}`, 'utf8')).trim();
      } catch (err) {
        throw new TortieError('ERR_KERNEL', `cannot read ${root}/${key}: ${(err as Error).message}`, { cause: err });
      }
    },
    async write(key, value) {
      checkKey(key);
      try {
        await writeFile(`${root}/${key}`, value);
      } catch (err) {
        throw new TortieError('ERR_KERNEL', `cannot write ${value} to ${root}/${key}: ${(err as Error).message}`, {
          cause: err,
        });
      }
    },
  };
}
