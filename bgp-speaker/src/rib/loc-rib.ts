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

/**
 * A prefix with several candidates, or whose one candidate is not a peer's own
 * path (a local origin): the candidates by source, and the best of them.
 */
class Contest {
  constructor(
    readonly sources: SourceKey[],
    readonly paths: Path[],
    public best: Path | null,
  ) {}
}

/**
 * Most prefixes have exactly one candidate, learned from a peer; such a
 * prefix's entry is that Path itself (its source is its peer, and it is its
 * own best), because a per-prefix container was most of the Loc-RIB's memory
 * per route (bench/RESULTS.md, BGP memory). Every other prefix is a Contest.
 */
type Entry = Path | Contest;

function bestOf(entry: Entry | undefined): Path | null {
  return entry === undefined ? null : entry instanceof Contest ? entry.best : entry;
}

/** A path that can stand alone as its prefix's entry: a peer's path, under that peer's source. */
function isLone(source: SourceKey, path: Path): boolean {
  // peerSource(address) compared without building the string: this runs once per route received.
  const address = path.peer?.address;
  return address !== undefined && source.length === address.length + 5 && source.startsWith('peer:') && source.endsWith(address);
}

function isLocalSource(source: SourceKey): boolean {
  return source.startsWith('local:');
}

export class LocRib {
  readonly #entries = new Map<string, Entry>();
  /**
   * Prefixes each local origin has a candidate for, so an origin can be
   * replaced or dropped whole. Peers are not indexed (that index cost as
   * much as the routes): dropping a peer scans the entries once.
   */
  readonly #byLocalSource = new Map<SourceKey, Set<string>>();

  get size(): number {
    return this.#entries.size;
  }

  best(prefix: string): Path | null {
    return bestOf(this.#entries.get(prefix));
  }

  candidates(prefix: string): Path[] {
    const entry = this.#entries.get(prefix);
    return entry === undefined ? [] : entry instanceof Contest ? [...entry.paths] : [entry];
  }

  /** Every best path. */
  *bests(): IterableIterator<Path> {
    for (const entry of this.#entries.values()) {
      const best = bestOf(entry);
      if (best !== null) yield best;
    }
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
    const entry = this.#entries.get(prefix);
    if (!(entry instanceof Contest) && (entry === undefined || isLone(source, entry)) && (path === null || isLone(source, path))) {
      // The common case, a peer's lone path arriving, replaced or withdrawn: no Contest to build.
      if (path === null) {
        if (entry === undefined) return out;
        this.#entries.delete(prefix);
      } else this.#entries.set(prefix, path);
      if (!isSamePath(entry, path)) out.push({ prefix, best: path });
      return out;
    }
    const sources = entry === undefined ? [] : entry instanceof Contest ? entry.sources : [peerSource((entry.peer as NonNullable<Path['peer']>).address)];
    const paths = entry === undefined ? [] : entry instanceof Contest ? entry.paths : [entry];
    const index = sources.indexOf(source);
    if (path === null) {
      if (index < 0) return out;
      sources.splice(index, 1);
      paths.splice(index, 1);
    } else if (index < 0) {
      sources.push(source);
      paths.push(path);
    } else {
      paths[index] = path;
    }
    if (isLocalSource(source)) this.#indexLocal(prefix, source, path !== null);

    const previous = bestOf(entry);
    let next: Entry | undefined;
    if (paths.length === 0) next = undefined;
    else if (paths.length === 1 && isLone(sources[0] as SourceKey, paths[0] as Path)) next = paths[0] as Path;
    else if (entry instanceof Contest) {
      entry.best = selectBest(paths);
      next = entry;
    } else next = new Contest(sources, paths, selectBest(paths));
    if (next === undefined) this.#entries.delete(prefix);
    else if (next !== entry) this.#entries.set(prefix, next);
    const best = bestOf(next);
    // A repeat of the same route (or only its stale mark changing) is no change to report.
    if (!isSamePath(previous, best)) out.push({ prefix, best });
    return out;
  }

  #indexLocal(prefix: string, source: SourceKey, isPresent: boolean): void {
    let prefixes = this.#byLocalSource.get(source);
    if (isPresent) {
      if (prefixes === undefined) {
        prefixes = new Set();
        this.#byLocalSource.set(source, prefixes);
      }
      prefixes.add(prefix);
    } else prefixes?.delete(prefix);
  }

  #candidate(prefix: string, source: SourceKey): Path | undefined {
    const entry = this.#entries.get(prefix);
    if (entry === undefined) return undefined;
    if (entry instanceof Contest) return entry.paths[entry.sources.indexOf(source)];
    return isLone(source, entry) ? entry : undefined;
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
    for (const prefix of [...(this.#byLocalSource.get(source) ?? [])]) {
      if (!wanted.has(prefix)) this.setCandidate(prefix, source, null, out);
    }
    for (const p of paths) {
      if (!isSamePath(this.#candidate(p.prefix, source), p)) this.setCandidate(p.prefix, source, p, out);
    }
    return { changed: out };
  }

  removeSource(source: SourceKey): LocRibChanges {
    const out: LocRibChange[] = [];
    const prefixes = isLocalSource(source)
      ? [...(this.#byLocalSource.get(source) ?? [])]
      : [...this.#entries.keys()].filter((prefix) => this.#candidate(prefix, source) !== undefined);
    for (const prefix of prefixes) this.setCandidate(prefix, source, null, out);
    this.#byLocalSource.delete(source);
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
