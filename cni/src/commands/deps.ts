/**
 * What every CNI command gets from main.ts, the composition root: the
 * datastore, the kernel, the node's name and a logger. Commands never make
 * their own clients, so a test can hand in a memory datastore or a recording
 * kernel, and main.ts closes what it opened.
 */
import type { Datastore } from '../../../lib/datastore/types.js';
import type { CommandRunner } from '../../../lib/kernel/exec.js';
import type { Logger } from '../../../lib/log.js';
import type { DatapathRunners } from '../attach.js';
import type { BlockStore } from '../ipam/block-store.js';

export interface CniDeps {
  datastore: Datastore;
  runners: DatapathRunners;
  /** The node this plugin runs on (config `nodename`, `nodename_file`, else the host name). */
  nodeName: string;
  log: Logger;
  /** Runs other CNI plugins (a delegated IPAM plugin such as host-local). */
  runPlugin: CommandRunner;
  /** IPAM on `datastore`; the CNI agent passes one that serialises its concurrent requests. Default: a plain BlockStore. */
  blockStore?: BlockStore;
}
