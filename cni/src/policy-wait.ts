/**
 * ADD waits until the policy agent has programmed the pod's policy
 * (calico#9706; Calico's `policy_setup_timeout_seconds`): felix writes
 * `<endpoint_status_dir>/<host interface>` once the nft transaction that
 * dispatches that interface is applied (felix/src/dataplane/endpoint-status.ts).
 *
 * - The file must also list every address this ADD gave the pod: a file left
 *   by an earlier sandbox of the same pod (same interface name, other
 *   address) does not count.
 * - Waiting is an inotify watch on the directory (fs.watch), with one read
 *   before the first event so a file written before the watch started is
 *   seen; polling only if the watch fails.
 * - On timeout ADD still succeeds, as Calico's does: tortie's ruleset drops
 *   every packet to or from a pod interface it does not know yet, so such a
 *   pod runs unreachable until felix catches up, never unprotected. Failing
 *   the ADD instead would make the kubelet retry the sandbox over and over,
 *   and no pod could start while the node agent restarts.
 */
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EndpointStatusFile } from '../../lib/contract.js';
import type { Logger } from '../../lib/log.js';
import type { AttachmentPlan } from './plan.js';
import type { TortieNetConf } from './request.js';

export type PolicyWaitOutcome = 'programmed' | 'timed-out';

/** Pure: whether a status file's text says this interface is programmed with all of these addresses. */
export function statusCovers(content: string, interfaceName: string, addresses: readonly string[]): boolean {
  let status: Partial<EndpointStatusFile>;
  try {
    status = JSON.parse(content) as Partial<EndpointStatusFile>;
  } catch {
    // Not JSON (not ours, or damaged): not a promise that the policy is in place.
    return false;
  }
  if (status.interfaceName !== interfaceName || !Array.isArray(status.addresses)) return false;
  const programmed = new Set(status.addresses);
  return addresses.every((a) => programmed.has(a));
}

const POLL_INTERVAL_MS = 100;

/** Resolves when `<dir>/<interfaceName>` covers `addresses`, or with 'timed-out' after `timeoutMs`. */
export async function waitForEndpointStatus(options: {
  dir: string;
  interfaceName: string;
  addresses: readonly string[];
  timeoutMs: number;
}): Promise<PolicyWaitOutcome> {
  const { dir, interfaceName, addresses } = options;
  // felix makes the directory too; making it here lets the watch start before felix has run once.
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const file = join(dir, interfaceName);
  return new Promise((resolve) => {
    let isDone = false;
    let watcher: FSWatcher | null = null;
    let poller: NodeJS.Timeout | undefined;
    const finish = (outcome: PolicyWaitOutcome): void => {
      if (isDone) return;
      isDone = true;
      clearTimeout(deadline);
      clearInterval(poller);
      watcher?.close();
      resolve(outcome);
    };
    const check = async (): Promise<void> => {
      try {
        if (statusCovers(await readFile(file, 'utf8'), interfaceName, addresses)) finish('programmed');
      } catch (err) {
        // Not there yet (ENOENT), or unreadable for now: the next event or the deadline decides.
        void err;
      }
    };
    const poll = (): void => {
      watcher?.close();
      watcher = null;
      poller ??= setInterval(() => void check(), POLL_INTERVAL_MS);
    };
    const deadline = setTimeout(() => finish('timed-out'), options.timeoutMs);
    try {
      watcher = watch(dir, (_event, name) => {
        if (name === null || name === interfaceName) void check();
      });
      watcher.on('error', poll);
    } catch (err) {
      void err; // No inotify (limits reached): poll instead.
      poll();
    }
    void check();
  });
}

/** The hook in ADD: wait when the config asks for it, and log how it went. */
export async function waitForPolicy(
  config: Pick<TortieNetConf, 'policy_setup_timeout_seconds' | 'endpoint_status_dir'>,
  plan: Pick<AttachmentPlan, 'hostIfName' | 'addresses'>,
  log: Logger,
): Promise<PolicyWaitOutcome | null> {
  if (config.policy_setup_timeout_seconds <= 0) return null;
  const started = Date.now();
  let outcome: PolicyWaitOutcome;
  try {
    outcome = await waitForEndpointStatus({
      dir: config.endpoint_status_dir,
      interfaceName: plan.hostIfName,
      addresses: plan.addresses.map((a) => a.address),
      timeoutMs: config.policy_setup_timeout_seconds * 1000,
    });
  } catch (err) {
    // The directory cannot be made: treated as a timeout, for the reason in the header.
    log.warn({ err, dir: config.endpoint_status_dir }, 'cannot wait for the policy agent; the pod starts without waiting');
    return 'timed-out';
  }
  const fields = { hostIfName: plan.hostIfName, waitedMs: Date.now() - started, dir: config.endpoint_status_dir };
  if (outcome === 'timed-out') log.warn(fields, 'policy not programmed in time; the pod starts unreachable until it is');
  else log.debug(fields, 'policy programmed');
  return outcome;
}
