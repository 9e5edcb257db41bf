/**
 * Endpoint status files: after each successful nft transaction, one file per
 * local workload endpoint in it (lib/contract.ts `EndpointStatusFile`, named
 * after the host interface), so the CNI ADD can wait until the pod's policy
 * is programmed (calico#9706; Calico's EndpointStatusFileReporter). The
 * directory is ours alone: a file for an endpoint no longer programmed is
 * removed.
 *
 * - Desired state and plan are pure (`desiredEndpointStatus`,
 *   `planEndpointStatus`); `EndpointStatusFiles` applies the plan.
 * - Each file is written to a temporary name and renamed, so a reader sees
 *   the old content or the new, never half of it.
 * - What is on disk is read once at start (and again after a failure); after
 *   that the last written state is trusted, so an unchanged endpoint costs
 *   no I/O.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EndpointStatusFile } from '../../../lib/contract.js';
import type { EndpointPlan } from '../calc/desired.js';

/** File name → content. */
export type EndpointStatusState = ReadonlyMap<string, string>;

export interface EndpointStatusPlan {
  readonly write: readonly { readonly name: string; readonly content: string }[];
  readonly remove: readonly string[];
}

/** A temporary file being written; never a status file itself. */
const TEMPORARY_PREFIX = '.tmp-';

/** Pure: the files for the local workloads of a desired state. */
export function desiredEndpointStatus(workloads: readonly EndpointPlan[]): EndpointStatusState {
  const files = new Map<string, string>();
  for (const w of workloads) {
    const status: EndpointStatusFile = { endpoint: w.id, interfaceName: w.interfaceName, addresses: [...w.ipv4, ...w.ipv6] };
    files.set(w.interfaceName, `${JSON.stringify(status)}\n`);
  }
  return files;
}

/** Pure: what to write and remove so that `actual` becomes `desired`. Sorted, so the same inputs give the same plan. */
export function planEndpointStatus(desired: EndpointStatusState, actual: EndpointStatusState): EndpointStatusPlan {
  const write = [...desired].filter(([name, content]) => actual.get(name) !== content).map(([name, content]) => ({ name, content }));
  const remove = [...actual.keys()].filter((name) => !desired.has(name));
  return { write: write.sort((a, b) => a.name.localeCompare(b.name)), remove: remove.sort() };
}

/** What the felix loop needs: report the workloads the last applied transaction programmed. */
export interface EndpointStatusReporter {
  reconcile(workloads: readonly EndpointPlan[]): Promise<void>;
}

export class EndpointStatusFiles implements EndpointStatusReporter {
  /** What is on disk as far as we know; null: read the directory first. */
  private actual: Map<string, string> | null = null;

  constructor(private readonly dir: string) {}

  async reconcile(workloads: readonly EndpointPlan[]): Promise<void> {
    try {
      const actual = this.actual ?? (await this.readDirectory());
      this.actual = actual;
      const plan = planEndpointStatus(desiredEndpointStatus(workloads), actual);
      for (const { name, content } of plan.write) {
        const temporary = join(this.dir, `${TEMPORARY_PREFIX}${name}`);
        await writeFile(temporary, content);
        await rename(temporary, join(this.dir, name));
        actual.set(name, content);
      }
      for (const name of plan.remove) {
        await rm(join(this.dir, name), { force: true });
        actual.delete(name);
      }
    } catch (err) {
      // Someone else may have changed the directory: read it again next time.
      this.actual = null;
      throw err;
    }
  }

  /** The status files on disk (creating the directory if needed); leftover temporary files are removed. */
  private async readDirectory(): Promise<Map<string, string>> {
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    const files = new Map<string, string>();
    for (const entry of await readdir(this.dir, { withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const path = join(this.dir, entry.name);
      if (entry.name.startsWith(TEMPORARY_PREFIX)) await rm(path, { force: true });
      else files.set(entry.name, await readFile(path, 'utf8'));
    }
    return files;
  }
}
