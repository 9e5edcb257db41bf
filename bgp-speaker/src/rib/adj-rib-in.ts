/**
 * Adj-RIB-In: the paths one peer has sent us, by prefix, as they arrived
 * (before import policy, so a policy change needs no route refresh). Applies
 * decoded UPDATEs, including the codec's RFC 7606 outcomes, and keeps paths
 * across a graceful restart (RFC 4724) until End-of-RIB or the restart timer.
 *
 * Pure state: no I/O and no clock. The session decides when the restart
 * timer fired and calls `sweepStale()`.
 */
import { endOfRibFamily, SAFI_UNICAST, type DecodedUpdate } from '../codec/index.js';
import { detectLoop, type LoopIdentity, type LoopReason } from './loop.js';
import { pathAttributesOf, prefixAfi, type Path, type PeerRef } from './path.js';

/** Import policy: true when a received path may enter the Loc-RIB. */
export type ImportPolicy = (path: Path) => boolean;

export const ACCEPT_ALL: ImportPolicy = () => true;

export interface RibInResult {
  /** Prefixes whose path from this peer was added, replaced or removed; feed them to the Loc-RIB. */
  readonly changed: readonly string[];
  /** Announced prefixes dropped on receipt, and why. */
  readonly rejected: readonly { readonly prefix: string; readonly reason: LoopReason }[];
  /** RFC 4724: the family this UPDATE closed with End-of-RIB (its stale paths are swept and in `changed`). */
  readonly endOfRib: { readonly afi: number; readonly safi: number } | null;
  /** RFC 7606 session reset: nothing was applied; the session must send the NOTIFICATION and close. */
  readonly isSessionReset: boolean;
}

const NOTHING: RibInResult = Object.freeze({ changed: [], rejected: [], endOfRib: null, isSessionReset: false });

export class AdjRibIn {
  readonly #paths = new Map<string, Path>();
  #importPolicy: ImportPolicy;

  constructor(
    readonly peer: PeerRef,
    private readonly me: LoopIdentity,
    importPolicy: ImportPolicy = ACCEPT_ALL,
  ) {
    this.#importPolicy = importPolicy;
  }

  /** Paths held (received and loop-free), accepted by import policy or not. */
  get size(): number {
    return this.#paths.size;
  }

  /** The path received for a prefix, before import policy. */
  get(prefix: string): Path | undefined {
    return this.#paths.get(prefix);
  }

  /** The path for a prefix if import policy accepts it: what the Loc-RIB takes as this peer's candidate. */
  accepted(prefix: string): Path | null {
    const p = this.#paths.get(prefix);
    return p !== undefined && this.#importPolicy(p) ? p : null;
  }

  paths(): IterableIterator<Path> {
    return this.#paths.values();
  }

  prefixes(): string[] {
    return [...this.#paths.keys()];
  }

  /** Replaces the import policy; every prefix is reported so the Loc-RIB re-reads them. */
  setImportPolicy(policy: ImportPolicy): RibInResult {
    this.#importPolicy = policy;
    return { ...NOTHING, changed: this.prefixes() };
  }

  /**
   * Applies one decoded UPDATE. Withdrawals first, then announcements
   * (RFC 4271 §9: a prefix both withdrawn and announced in one UPDATE ends
   * announced). A treat-as-withdraw UPDATE arrives from the codec already
   * rewritten as withdrawals; attribute-discard ones arrive without the
   * discarded attributes; a session-reset one changes nothing here.
   */
  applyUpdate(decoded: DecodedUpdate): RibInResult {
    if (decoded.errorAction?.action === 'session-reset') return { ...NOTHING, isSessionReset: true };
    const u = decoded.update;
    const eor = endOfRibFamily(u);
    if (eor !== null) return { ...NOTHING, changed: this.sweepStale(eor.afi), endOfRib: eor };

    const changed = new Set<string>();
    const rejected: { prefix: string; reason: LoopReason }[] = [];
    const withdraw = (prefix: string): void => {
      if (this.#paths.delete(prefix)) changed.add(prefix);
    };
    for (const prefix of u.withdrawn) withdraw(prefix);
    const unreach = u.attributes.mpUnreachNlri;
    if (unreach !== undefined && unreach.safi === SAFI_UNICAST) for (const prefix of unreach.withdrawn) withdraw(prefix);

    const attributes = pathAttributesOf(u.attributes);
    const loop = detectLoop(attributes, this.me);
    const announce = (prefix: string, nextHop: string, linkLocalNextHop?: string): void => {
      if (loop !== null) {
        rejected.push({ prefix, reason: loop });
        withdraw(prefix);
        return;
      }
      const path: Path = { prefix, nextHop, linkLocalNextHop, attributes, peer: this.peer, isStale: false };
      this.#paths.set(prefix, path);
      changed.add(prefix);
    };
    if (u.nlri.length > 0 && u.attributes.nextHop !== undefined) {
      for (const prefix of u.nlri) announce(prefix, u.attributes.nextHop);
    }
    const reach = u.attributes.mpReachNlri;
    if (reach !== undefined && reach.safi === SAFI_UNICAST && reach.nextHops.length > 0) {
      const [global, linkLocal] = reach.nextHops as [string, string | undefined];
      for (const prefix of reach.nlri) announce(prefix, global, linkLocal);
    }
    return { changed: [...changed], rejected, endOfRib: null, isSessionReset: false };
  }

  /**
   * RFC 4724 §4.2 (receiving speaker): the session went down and the peer can
   * restart gracefully; keep every path, marked stale, until it says End-of-RIB.
   * Returns the prefixes marked, for the Loc-RIB to re-read (it reports no
   * best-path change for a stale mark: the route is the same).
   */
  markStale(): string[] {
    const marked: string[] = [];
    for (const [prefix, p] of this.#paths) {
      if (p.isStale) continue;
      this.#paths.set(prefix, { ...p, isStale: true });
      marked.push(prefix);
    }
    return marked;
  }

  /** Deletes the stale paths (of one AFI, or all when afi is omitted); returns their prefixes. */
  sweepStale(afi?: number): string[] {
    const swept: string[] = [];
    for (const [prefix, p] of this.#paths) {
      if (p.isStale && (afi === undefined || prefixAfi(prefix) === afi)) {
        this.#paths.delete(prefix);
        swept.push(prefix);
      }
    }
    return swept;
  }

  /** The session is gone with no graceful restart: drop everything; returns the prefixes. */
  clear(): string[] {
    const all = this.prefixes();
    this.#paths.clear();
    return all;
  }
}
