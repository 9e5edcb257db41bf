/**
 * NftTable: the effectful half of applying a ruleset. apply() plans with
 * planNft (pure) against what its last transaction wrote, or, at a resync,
 * against the kernel's `inet tortie` (`nft -j list table`); knowing nothing
 * (a restart) it replaces the table whole without reading it. It runs the plan
 * as ONE `nft -j -f` transaction and never names any table but ours, so
 * nothing outside `inet tortie` is touched.
 *
 * Failure: nft transactions are atomic, so a rejected one leaves the old
 * rules. The desired state stays dirty; `retryDelayMs()` says when to try
 * again (exponential back-off, capped), `ready` is false until an apply
 * succeeds, and after `maxConsecutiveFailures` the error is ERR_NFT_APPLY with
 * `details.fatal = true`: the caller exits non-zero (fail closed).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { TortieError } from '../../../lib/errors.js';
import { NFT_TABLE_FAMILY, NFT_TABLE_NAME } from '../../../lib/contract.js';
import { commandFailureOf, runCommand, type CommandRunner } from '../../../lib/kernel/exec.js';
import type { NftObject } from '../render/nft-json.js';
import { actualFromObjects, fullReplace, parseNftList, planNft, recordsAfter, type ChainRecord, type NftPlan } from './kernel-plan.js';

export interface NftTableOptions {
  /** Runs `nft` (default: lib/kernel/exec.ts runCommand). */
  run?: CommandRunner;
  /** Path of a network namespace to work in (`/run/netns/<name>`); default the current one. */
  netns?: string;
  log?: Logger;
  /** Consecutive failed applies before giving up (default 10). */
  maxConsecutiveFailures?: number;
  backoff?: { initialMs: number; maxMs: number };
}

export interface ApplyResult {
  kind: NftPlan['kind'];
  commands: number;
  summary: NftPlan['summary'];
}

const MIN_NFT_VERSION: readonly [number, number] = [1, 0];

/** `nftables v1.0.6 (Lester Gooch #5)` -> [1, 0, 6]; null when unreadable. */
export function parseNftVersion(text: string): number[] | null {
  const m = /nftables v(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

/**
 * The part of nft's error output that names the offending command: nft prints
 * `Error: ...` lines, for JSON input followed by the command it choked on.
 */
export function offendingRule(stderr: string, commands: readonly unknown[]): string | null {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const json = lines.find((l) => l.startsWith('{') || l.startsWith('['));
  if (json !== undefined) return json;
  // Text pointers look like `/dev/stdin:1:1234-1240:`; for a one-line JSON input the column picks the command.
  // (`internal:0:0-0` is nft saying it does not know where: no pointer.)
  const m = /^(?!internal:)[^\s:]+:(\d+):(\d+)-(\d+)/m.exec(stderr);
  if (m && Number(m[2]) > 0 && commands.length > 0) {
    const col = Number(m[2]);
    const text = JSON.stringify({ nftables: commands });
    let pos = '{"nftables":['.length;
    for (const c of commands) {
      const s = JSON.stringify(c);
      if (col - 1 < pos + s.length) return s;
      pos += s.length + 1;
    }
    return text.slice(Math.max(0, col - 80), col + 80);
  }
  return null;
}

export class NftTable {
  private readonly run: CommandRunner;
  private readonly netns: string | undefined;
  private readonly log: Logger | undefined;
  private readonly maxFailures: number;
  private readonly backoff: { initialMs: number; maxMs: number };
  private desired: readonly NftObject[] | null = null;
  private records = new Map<string, ChainRecord>();
  /** What the last successful transaction left in the kernel; null: unknown, read it. */
  private written: readonly NftObject[] | null = null;
  private dirty = false;
  private failures = 0;
  private everApplied = false;
  /** Number of transactions written (for tests and metrics). */
  transactions = 0;

  constructor(options: NftTableOptions = {}) {
    this.run = options.run ?? runCommand;
    this.netns = options.netns;
    this.log = options.log;
    this.maxFailures = options.maxConsecutiveFailures ?? 10;
    this.backoff = options.backoff ?? { initialMs: 100, maxMs: 30_000 };
  }

  /**
   * Runs nft; with `input`, args must end in `-f -` and the input goes through a
   * private temporary file instead: `nft -f -` opens /dev/stdin, which fails
   * with ENXIO on the socket pair Node gives a child, and nft reads a pipe
   * markedly slower than a file (~0.17 s against ~0.11 s for 700 kB).
   */
  private async nft(args: string[], input?: string): Promise<string> {
    const opts: { netns?: string } = {};
    if (this.netns !== undefined) opts.netns = this.netns;
    if (input === undefined) return this.run('nft', args, opts);
    const dir = await mkdtemp(join(tmpdir(), 'tortie-nft-'));
    const file = join(dir, 'transaction.json');
    try {
      await writeFile(file, input, { mode: 0o600 });
      return await this.run('nft', [...args.slice(0, -1), file], opts);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Start-up check: nft is there and ≥ 1.0 (JSON input we rely on). Throws ERR_CONFIG_INVALID otherwise. */
  async checkNft(): Promise<string> {
    let out: string;
    try {
      out = await this.nft(['--version']);
    } catch (err) {
      throw new TortieError('ERR_CONFIG_INVALID', 'the nft command is missing or does not run; install nftables ≥ 1.0', { cause: err });
    }
    const v = parseNftVersion(out);
    if (v === null || v[0]! < MIN_NFT_VERSION[0] || (v[0] === MIN_NFT_VERSION[0] && v[1]! < MIN_NFT_VERSION[1])) {
      throw new TortieError('ERR_CONFIG_INVALID', `nft ${out.trim()} is too old or unreadable; tortie needs nftables ≥ 1.0`, { details: { version: out.trim() } });
    }
    return out.trim();
  }

  setDesired(objects: readonly NftObject[]): void {
    this.desired = objects;
    this.dirty = true;
  }

  get isDirty(): boolean {
    return this.dirty;
  }
  /** True once an apply succeeded and the last one did not fail. */
  get ready(): boolean {
    return this.everApplied && this.failures === 0;
  }
  get consecutiveFailures(): number {
    return this.failures;
  }
  /** When to retry after the failures so far: initial · 2^(n-1), capped. 0 when nothing failed. */
  retryDelayMs(): number {
    if (this.failures === 0) return 0;
    return Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** Math.min(this.failures - 1, 30));
  }

  /** The table as the kernel lists it (parsed), or null when there is none. */
  async readActual(): Promise<{ raw: unknown; table: ReturnType<typeof parseNftList> }> {
    let out: string;
    try {
      out = await this.nft(['-j', 'list', 'table', NFT_TABLE_FAMILY, NFT_TABLE_NAME]);
    } catch (err) {
      const f = commandFailureOf(err);
      if (f !== null && /No such file or directory/.test(f.stderr)) return { raw: null, table: null };
      throw err;
    }
    const raw: unknown = JSON.parse(out);
    return { raw, table: parseNftList(raw) };
  }

  /**
   * nft reports a rejected JSON command without saying which one
   * ("internal:0:0-0: Error: Could not process rule"). Find the first command
   * whose prefix the kernel refuses, by bisection with `nft -c` (check only,
   * nothing is committed): about log2(n) runs, on the failure path only.
   */
  async locateOffending(commands: readonly unknown[]): Promise<string | null> {
    const ok = async (n: number) => {
      try {
        await this.nft(['-c', '-j', '-f', '-'], JSON.stringify({ nftables: commands.slice(0, n) }));
        return true;
      } catch (err) {
        if (commandFailureOf(err) === null) throw err;
        return false;
      }
    };
    if (await ok(commands.length)) return null;
    let lo = 0; // prefix of length lo is accepted
    let hi = commands.length; // prefix of length hi is refused
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (await ok(mid)) lo = mid;
      else hi = mid;
    }
    return JSON.stringify(commands[hi - 1]);
  }

  /**
   * Read the kernel at the next apply instead of trusting what we wrote, and
   * repair whatever differs (someone flushed a chain, deleted an element).
   */
  resync(): void {
    this.written = null;
    if (this.desired !== null) this.dirty = true;
  }

  /** Forget everything: the next apply replaces the table whole (as after a restart). */
  forget(): void {
    this.written = null;
    this.records = new Map();
    if (this.desired !== null) this.dirty = true;
  }

  /**
   * Plan (reading the kernel only at a resync), write once. Returns what was done; 'none' writes nothing. On
   * failure throws ERR_NFT_APPLY (details: stderr, offendingRule, failures,
   * fatal) and keeps the desired state dirty.
   */
  async apply(): Promise<ApplyResult> {
    const desired = this.desired;
    if (desired === null) throw new TortieError('ERR_NFT_APPLY', 'apply() before setDesired()');
    let plan: NftPlan | null = null;
    try {
      // Between resyncs the kernel holds what our last transaction wrote (transactions are atomic): plan against
      // that and save the read, which costs as much as the write for a large table. Knowing nothing (start, after a
      // failure, forget()) the plan is a full replace whatever the kernel holds, so it is not read either. A real
      // read (resync) learns how the kernel lists the chains we wrote since the last one, or rewrites them when the
      // listing is not ours (kernel-plan.ts chainOutline); nothing is read back after a write.
      const fromMemory = this.written !== null;
      const known = new Map(this.records);
      if (fromMemory) plan = planNft(desired, actualFromObjects(this.written!), known, { trustUnlearned: true });
      else if (known.size === 0) plan = fullReplace(desired);
      else plan = planNft(desired, (await this.readActual()).table, known);
      if (plan.kind !== 'none') {
        const input = JSON.stringify({ nftables: plan.commands });
        if (this.log?.isLevelEnabled('debug') === true) this.log.debug({ kind: plan.kind, summary: plan.summary, transaction: input.length > 20_000 ? `${input.slice(0, 20_000)}...` : input }, 'nft transaction');
        await this.nft(['-j', '-f', '-'], input);
        this.transactions++;
      }
      this.records = recordsAfter(plan, known, desired);
      this.written = desired;
      if (this.failures > 0) this.log?.info({ failures: this.failures }, 'nft apply recovered');
      this.failures = 0;
      this.everApplied = true;
      if (this.desired === desired) this.dirty = false;
      return { kind: plan.kind, commands: plan.commands.length, summary: plan.summary };
    } catch (err) {
      this.failures++;
      // What we believe of the kernel may be wrong now: replace the table whole next time.
      this.records = new Map();
      this.written = null;
      const f = commandFailureOf(err);
      const stderr = f?.stderr ?? (err instanceof Error ? err.message : String(err));
      const fatal = this.failures >= this.maxFailures;
      let rule = plan === null ? null : offendingRule(stderr, plan.commands);
      if (rule === null && plan !== null && f !== null) rule = await this.locateOffending(plan.commands).catch((locateErr: unknown) => {
          // Only a diagnosis: the apply error below is what matters, so a failed search is logged, not thrown.
          this.log?.debug({ err: locateErr }, 'could not locate the offending nft command');
          return null;
        });
      const e = new TortieError('ERR_NFT_APPLY', `nft rejected the transaction: ${stderr.split('\n')[0] ?? ''}`, {
        cause: err,
        details: { stderr, offendingRule: rule, failures: this.failures, fatal, retryInMs: this.retryDelayMs() },
      });
      const fields = { code: e.code, stderr, offendingRule: rule, failures: this.failures, retryInMs: this.retryDelayMs() };
      if (fatal) this.log?.error(fields, 'nft apply failed too often, giving up');
      else this.log?.warn(fields, 'nft apply failed, will retry');
      throw e;
    }
  }
}
