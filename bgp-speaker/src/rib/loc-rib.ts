/**
 * Loc-RIB: for each prefix, the candidate paths from every peer and from this
 * speaker's own origins (blocks, service IPs), and the best of them. Every
 * write reports the prefixes whose best path changed, as one diff that the
 * Adj-RIBs-Out and the kernel route planner consume (STYLE.md §2: the kernel
 * is one more consumer of the RIB; this file imports nothing of program/).
 */
import { selectBest } from './best-path.js';
import { isSamePath, type Path } from './path.js';

export interface LocRibChange {
  readonly prefix: string;
  /** The new best path, or null when the prefix is gone. */
  readonly best: Path | null;
}

export interface LocRibChanges {
  readonly changed: readonly LocRibChange[];
}

export const NO_CHANGES: LocRibChanges = Object.freeze({ changed: [] });

/** The key of a candidate: `peer:<address>` for a peer, `local:<origin>` for our own. */
export type SourceKey = string;

export function peerSource(address: string): SourceKey {
  return `peer:${address}`;
}

export function localSource(origin: string): SourceKey {
  return `local:${origin}`;
}

interface Entry {
  readonly candidates: Map<SourceKey, Path>;
  best: Path | null;
}

export class LocRib {
  readonly #entries = new Map<string, Entry>();
  /** Prefixes each source has a candidate for, so a source can be replaced or dropped whole. */
  readonly #bySource = new Map<SourceKey, Set<string>>();

  get size(): number {
    return this.#entries.size;
  }

  best(prefix: string): Path | null {
    return this.#entries.get(prefix)?.best ?? null;
  }

  candidates(prefix: string): Path[] {
    return [...(this.#entries.get(prefix)?.candidates.values() ?? [])];
  }

  /** Every best path. */
  *bests(): IterableIterator<Path> {
    for (const e of this.#entries.values()) if (e.best !== null) yield e.best;
  }

  /** Every best path as a change, for a session that has just come up (its Adj-RIB-Out is empty). */
  snapshot(): LocRibChanges {
    return { changed: [...this.bests()].map((best) => ({ prefix: best.prefix, best })) };
  }

  /**
   * Sets (or with null, removes) one source's candidate for a prefix. The
   * change is appended to `out` when the best path changed; returns `out`.
   */
  setCandidate(prefix: string, source: SourceKey, path: Path | null, out: LocRibChange[] = []): LocRibChange[] {
    let entry = this.#entries.get(prefix);
    if (path === null) {
      if (entry === undefined || !entry.candidates.delete(source)) return out;
      this.#bySource.get(source)?.delete(prefix);
    } else {
      if (entry === undefined) {
        entry = { candidates: new Map(), best: null };
        this.#entries.set(prefix, entry);
      }
      entry.candidates.set(source, path);
      let prefixes = this.#bySource.get(source);
      if (prefixes === undefined) {
        prefixes = new Set();
        this.#bySource.set(source, prefixes);
      }
      prefixes.add(prefix);
    }
    const best = selectBest([...entry.candidates.values()]);
    if (entry.candidates.size === 0) this.#entries.delete(prefix);
    const previous = entry.best;
    entry.best = best;
    // A repeat of the same route (or only its stale mark changing) is no change to report.
    if (!isSamePath(previous, best)) out.push({ prefix, best });
    return out;
  }

  /** Re-reads a peer's candidates for these prefixes through `accepted` (an Adj-RIB-In after import policy). */
  applyPeer(address: string, prefixes: Iterable<string>, accepted: (prefix: string) => Path | null): LocRibChanges {
    const out: LocRibChange[] = [];
    const source = peerSource(address);
    for (const prefix of prefixes) this.setCandidate(prefix, source, accepted(prefix), out);
    return { changed: out };
  }

  /** Removes every candidate of a peer (session down without graceful restart). */
  removePeer(address: string): LocRibChanges {
    return this.removeSource(peerSource(address));
  }

  /** Replaces the whole set of paths one local origin provides (e.g. "blocks", "services"). */
  setLocal(origin: string, paths: readonly Path[]): LocRibChanges {
    const source = localSource(origin);
    const out: LocRibChange[] = [];
    const wanted = new Set(paths.map((p) => p.prefix));
    for (const prefix of [...(this.#bySource.get(source) ?? [])]) {
      if (!wanted.has(prefix)) this.setCandidate(prefix, source, null, out);
    }
    for (const p of paths) {
      const current = this.#entries.get(p.prefix)?.candidates.get(source);
      if (!isSamePath(current, p)) this.setCandidate(p.prefix, source, p, out);
    }
    return { changed: out };
  }

  removeSource(source: SourceKey): LocRibChanges {
    const out: LocRibChange[] = [];
    for (const prefix of [...(this.#bySource.get(source) ?? [])]) this.setCandidate(prefix, source, null, out);
    this.#bySource.delete(source);
    return { changed: out };
  }
}

/** Joins change lists, keeping only the last change per prefix. */
export function mergeChanges(...lists: readonly LocRibChanges[]): LocRibChanges {
  const byPrefix = new Map<string, LocRibChange>();
  for (const l of lists) for (const c of l.changed) {
    byPrefix.delete(c.prefix);
    byPrefix.set(c.prefix, c);
  }
  return { changed: [...byPrefix.values()] };
}
