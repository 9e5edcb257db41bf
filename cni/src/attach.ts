/**
 * Runs an AttachmentPlan against the kernel (the effectful half of plan.ts).
 *
 * Cost of one attachment: two processes, `ip -batch -` in the host namespace
 * and `ip -n <ns> -batch -` (or `nsenter --net=<path> ip -batch -`) in the
 * pod's, plus the host sysctls written straight to /proc/sys (this process is
 * in the host namespace, so no process is needed for them). Nothing is read
 * before writing: a clash is found by the write failing, and only then
 * examined (`attachWorkload`).
 *
 * ADD undoes in reverse (STYLE.md §6): if any step after the pair exists
 * fails, the host end is deleted (the pod end, its addresses and every route
 * through the host end go with it), so nothing half-made is left.
 */
import { TortieError } from '../../lib/errors.js';
import { failedBatchLine, type IpRunner } from '../../lib/kernel/ip.js';
import type { IpRoute } from '../../lib/kernel/ip-json.js';
import type { Sysctl } from '../../lib/kernel/sysctl.js';
import { diffAttachment, type ActualAttachment, type AttachmentPlan, type DetachPlan } from './plan.js';

/** The kernel as the datapath needs it; main.ts builds it, tests may pass their own. */
export interface DatapathRunners {
  /** iproute2 in the host namespace (`inNetns` reaches the pod's). */
  ip: IpRunner;
  /** /proc/sys of the host namespace. */
  sysctl: Sysctl;
  /** Whether a namespace file is a live namespace (lib/kernel/netns.ts `netnsExists`). */
  netnsExists(path: string): Promise<boolean>;
}

function withUndoFailure(err: unknown, undoErr: unknown): Error {
  const message = err instanceof Error ? err.message : String(err);
  const undoMessage = undoErr instanceof Error ? undoErr.message : String(undoErr);
  return new TortieError('ERR_KERNEL', `${message}; undoing it also failed: ${undoMessage}`, {
    cause: err,
    details: { undoError: undoMessage },
  });
}

/** Removes whatever the plan made; a host end that is already gone is success. */
export async function undoPlan(plan: AttachmentPlan, runners: DatapathRunners): Promise<void> {
  try {
    await runners.ip.batch(plan.undoCommands);
  } catch (err) {
    if ((await runners.ip.link(plan.hostIfName)) !== null) throw err;
  }
}

/**
 * Makes what the plan says. On failure, throws (ERR_KERNEL, naming the
 * command, batch line and stderr) after removing whatever this call made. A
 * failure of the very first command (the pair cannot be created: a name
 * clash, a bad namespace) made nothing and removes nothing, so it never
 * touches an interface that was there before.
 */
export async function executePlan(plan: AttachmentPlan, runners: DatapathRunners): Promise<void> {
  if (!(await runners.netnsExists(plan.netns.path))) {
    throw new TortieError('ERR_KERNEL', `network namespace ${plan.netns.path} does not exist`, {
      details: { reason: 'netns-missing', netns: plan.netns.path },
    });
  }
  try {
    await runners.ip.batch(plan.hostCommands);
  } catch (err) {
    // Line 1 is `link add`: a single netlink request, so it made all or nothing.
    if (failedBatchLine(err) === 1) throw pairNotCreated(err);
    return rethrowAfterUndo(err, plan, runners);
  }
  // The host end's sysctls and the pod side touch different namespaces, so they go side by side;
  // both settle before any undo, which must not race a write still in flight.
  const settled = await Promise.allSettled([
    runners.ip.inNetns(plan.netns).batch(plan.podCommands),
    ...plan.sysctls.map((s) => runners.sysctl.write(s.key, s.value)),
  ]);
  const failure = settled.find((r) => r.status === 'rejected');
  if (failure !== undefined) return rethrowAfterUndo(failure.reason, plan, runners);
}

/** Marks a failure of the pair's creation (nothing was made), for attachWorkload. */
function pairNotCreated(err: unknown): unknown {
  if (!(err instanceof TortieError)) return err;
  return new TortieError(err.code, err.message, { cause: err.cause, details: { ...err.details, stage: 'create-pair' } });
}

/** Whether executePlan failed because the pair could not be created (a name clash, say), having made nothing. */
export function isPairCreationFailure(err: unknown): boolean {
  return (err as { details?: { stage?: unknown } } | null)?.details?.stage === 'create-pair';
}

async function rethrowAfterUndo(err: unknown, plan: AttachmentPlan, runners: DatapathRunners): Promise<never> {
  try {
    await undoPlan(plan, runners);
  } catch (undoErr) {
    throw withUndoFailure(err, undoErr);
  }
  throw err;
}

export type AttachOutcome =
  /** Made from scratch. */
  | 'created'
  /** Everything was already there as planned (a repeated ADD). */
  | 'existing'
  /** A stale host end by the same name (an older sandbox of the same pod) was removed first. */
  | 'replaced';

/**
 * ADD's datapath: `executePlan`, made idempotent. If the pair cannot be made
 * because the host end's name is taken, look: when the kernel already holds
 * exactly this plan (the runtime repeated ADD), that is success; when the
 * name belongs to something else of ours (a previous sandbox of the same
 * namespace.pod whose DEL never came), remove it and attach again. A clash
 * with anything that is not our host end (say `eth0` already exists in the
 * pod) is an error, and nothing is touched.
 */
export async function attachWorkload(plan: AttachmentPlan, runners: DatapathRunners): Promise<AttachOutcome> {
  try {
    await executePlan(plan, runners);
    return 'created';
  } catch (err) {
    if (!isPairCreationFailure(err)) throw err;
    const actual = await readAttachment(plan, runners);
    if (actual.hostLink === null) throw err;
    if (diffAttachment(plan, actual).length === 0) return 'existing';
    if (actual.hostLink.kind !== 'veth') throw err;
    await undoPlan(plan, runners);
    await executePlan(plan, runners);
    return 'replaced';
  }
}

async function readSysctls(plan: AttachmentPlan, runners: DatapathRunners): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  await Promise.all(
    plan.sysctls.map(async (s) => {
      try {
        out[s.key] = await runners.sysctl.read(s.key);
      } catch {
        // Unreadable (the interface is gone): left out, and diffAttachment reports it as such.
      }
    }),
  );
  return out;
}

/** What the kernel holds where the plan would put things (for CHECK, and for a repeated ADD). */
export async function readAttachment(plan: AttachmentPlan, runners: DatapathRunners): Promise<ActualAttachment> {
  const families = [...new Set(plan.addresses.map((a) => a.family))];
  const hostLink = await runners.ip.link(plan.hostIfName);
  const hasNetns = await runners.netnsExists(plan.netns.path);
  const pod = runners.ip.inNetns(plan.netns);
  const [podLink, podAddresses, podRoutes] = hasNetns
    ? await Promise.all([
        pod.link(plan.podIfName),
        pod.addresses({ dev: plan.podIfName }).catch(() => []),
        Promise.all(families.map((f) => pod.routes(f).catch((): IpRoute[] => []))).then((r) => r.flat()),
      ])
    : [null, [], []];
  const [hostAddresses, hostRoutes, sysctls] =
    hostLink === null
      ? [[], [], {}]
      : await Promise.all([
          plan.hostAddresses.length === 0 ? [] : runners.ip.addresses({ dev: plan.hostIfName }),
          Promise.all(families.map((f) => runners.ip.routes(f, { dev: plan.hostIfName }))).then((r) => r.flat()),
          readSysctls(plan, runners),
        ]);
  return { hostLink, podLink, podAddresses, podRoutes, hostAddresses, hostRoutes, sysctls };
}

export type DetachOutcome =
  /** The pod end was deleted (and the host end with it). */
  | 'deleted'
  /** The pod end was not there: nothing to do. */
  | 'absent'
  /** No namespace given, or it no longer exists: the pair went with it. */
  | 'no-netns';

/**
 * DEL's datapath. Idempotent: a missing namespace or a missing interface is
 * success (CNI spec, DEL: "Plugins should generally complete a DEL action
 * without error even if some resources are missing").
 */
export async function executeDetach(plan: DetachPlan, runners: DatapathRunners): Promise<DetachOutcome> {
  if (plan.netns === null || !(await runners.netnsExists(plan.netns.path))) return 'no-netns';
  const pod = runners.ip.inNetns(plan.netns);
  try {
    await pod.batch(plan.podCommands);
    return 'deleted';
  } catch (err) {
    // `link del` fails alike for "no such device" and real trouble: look instead of reading stderr.
    if (!(await runners.netnsExists(plan.netns.path))) return 'no-netns';
    if ((await pod.link(plan.podIfName)) === null) return 'absent';
    throw err;
  }
}
