/**
 * RouteTable: the applier of desired kernel routes (STYLE.md §1). `setDesired`
 * records what the kernel should hold and schedules an apply; `apply` reads
 * the routes with our protocol number through the IpRunner, plans the
 * difference (`planRouteChanges`: replacements before deletions) and runs it
 * as one `ip -batch -`. Applying the same desired state twice runs no batch
 * the second time. A failed apply keeps the table dirty and is retried with
 * back-off; after `maxConsecutiveFailures` the owner is told (`onFatal`) so
 * the process can fail closed.
 *
 * With `tunnels` (the TunnelTable), each apply first brings the tunnel
 * devices in line, so an onlink route never precedes its device, and leaves
 * out routes through a device that cannot exist (IPIP on a kernel without
 * it): no half-programmed encapsulation.
 */
import type { IpFamily } from '../../../lib/cidr.js';
import { ROUTE_PROTOCOL } from '../../../lib/contract.js';
import type { IpRunner } from '../../../lib/kernel/ip.js';
import type { Logger } from '../../../lib/log.js';
import type { Clock, TimerHandle } from '../session/clock.js';
import { kernelRouteFromIp, planRouteChanges, renderRouteBatch, type KernelRoute } from './routes.js';

export interface RouteTableOptions {
  readonly ip: Pick<IpRunner, 'routes' | 'batch'>;
  readonly clock: Clock;
  readonly log?: Logger | undefined;
  /** Families read back from the kernel (default IPv4 and IPv6). */
  readonly families?: readonly IpFamily[];
  /** Delay between a change and its apply, so a burst of UPDATEs makes one batch (default 20 ms). */
  readonly coalesceMs?: number;
  readonly initialRetryMs?: number;
  readonly maxRetryMs?: number;
  readonly maxConsecutiveFailures?: number;
  readonly onFatal?: (error: unknown) => void;
  /** Called after each successful apply with the commands it ran (none when in sync). */
  readonly onApplied?: (commands: readonly string[]) => void;
  /** Run before each apply; returns the devices no route may use. */
  readonly tunnels?: { ensure(): Promise<ReadonlySet<string>> } | undefined;
}

export class RouteTable {
  #desired: readonly KernelRoute[] = [];
  #isDirty = false;
  #isApplying = false;
  #timer: TimerHandle | null = null;
  #failures = 0;
  #retryMs: number;
  #isStopped = false;
  #isDeletionAllowed = true;
  readonly #o: Required<Omit<RouteTableOptions, 'log' | 'onFatal' | 'onApplied' | 'tunnels'>> & Pick<RouteTableOptions, 'log' | 'onFatal' | 'onApplied' | 'tunnels'>;

  constructor(options: RouteTableOptions) {
    this.#o = {
      families: [4, 6],
      coalesceMs: 20,
      initialRetryMs: 250,
      maxRetryMs: 30_000,
      maxConsecutiveFailures: 10,
      ...options,
    };
    this.#retryMs = this.#o.initialRetryMs;
  }

  get desired(): readonly KernelRoute[] {
    return this.#desired;
  }

  /** True while the kernel may differ from the desired state (not yet applied, or the last apply failed). */
  get isDirty(): boolean {
    return this.#isDirty;
  }

  get consecutiveFailures(): number {
    return this.#failures;
  }

  /** Schedules an apply of the same desired routes (the tunnel model changed). */
  markDirty(): void {
    this.#isDirty = true;
    this.#schedule(this.#o.coalesceMs);
  }

  /** Records the desired routes and schedules an apply. */
  setDesired(routes: readonly KernelRoute[]): void {
    this.#desired = routes;
    this.#isDirty = true;
    this.#schedule(this.#o.coalesceMs);
  }

  /**
   * Reads our routes from the kernel, plans and runs one batch. Returns the
   * commands run (empty when the kernel already matched). Throws the apply's
   * error (the table stays dirty).
   */
  async apply(): Promise<string[]> {
    const desired = this.#desired;
    const unusable = (await this.#o.tunnels?.ensure()) ?? new Set<string>();
    const wanted = unusable.size === 0 ? desired : desired.filter((r) => r.dev === null || !unusable.has(r.dev));
    const actual: KernelRoute[] = [];
    for (const family of this.#o.families) {
      for (const r of await this.#o.ip.routes(family, { protocol: ROUTE_PROTOCOL })) actual.push(kernelRouteFromIp(r));
    }
    const plan = planRouteChanges(wanted, actual);
    const commands = renderRouteBatch(this.#isDeletionAllowed ? plan : { replace: plan.replace, delete: [] });
    if (commands.length > 0) await this.#o.ip.batch(commands);
    if (desired === this.#desired) this.#isDirty = false;
    return commands;
  }

  /**
   * While false, routes of ours that are no longer desired stay in the kernel
   * (a restarted speaker waits for its peers' End-of-RIB before removing what
   * it has not learned again). Setting it true schedules an apply.
   */
  setDeletionsAllowed(isAllowed: boolean): void {
    if (isAllowed === this.#isDeletionAllowed) return;
    this.#isDeletionAllowed = isAllowed;
    if (isAllowed) {
      this.#isDirty = true;
      this.#schedule(this.#o.coalesceMs);
    }
  }

  /** Stops scheduled applies (the routes stay in the kernel). */
  stop(): void {
    this.#isStopped = true;
    if (this.#timer !== null) this.#o.clock.clearTimer(this.#timer);
    this.#timer = null;
  }

  #schedule(delayMs: number): void {
    if (this.#isStopped || this.#timer !== null || this.#isApplying) return;
    this.#timer = this.#o.clock.setTimer(delayMs, () => {
      this.#timer = null;
      void this.#run();
    });
  }

  async #run(): Promise<void> {
    if (!this.#isDirty || this.#isStopped) return;
    this.#isApplying = true;
    let delay = this.#o.coalesceMs;
    try {
      const commands = await this.apply();
      if (this.#failures > 0) this.#o.log?.info({ failures: this.#failures }, 'kernel routes applied after failures');
      this.#failures = 0;
      this.#retryMs = this.#o.initialRetryMs;
      if (commands.length > 0) this.#o.log?.debug({ commands }, 'kernel routes applied');
      this.#o.onApplied?.(commands);
    } catch (err) {
      this.#failures++;
      delay = this.#retryMs;
      this.#retryMs = Math.min(this.#o.maxRetryMs, this.#retryMs * 2);
      this.#o.log?.warn({ err, failures: this.#failures, retryMs: delay }, 'applying kernel routes failed, will retry');
      if (this.#failures >= this.#o.maxConsecutiveFailures) {
        this.#o.log?.error({ err, failures: this.#failures }, 'giving up on kernel routes');
        this.#o.onFatal?.(err);
      }
    } finally {
      this.#isApplying = false;
    }
    if (this.#isDirty) this.#schedule(delay);
  }
}
