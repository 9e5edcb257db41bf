/**
 * The BGP decision process (RFC 4271 §9.1.2.2, with RFC 4456 §9 for route
 * reflection), as whole-set elimination rather than pairwise comparison: each
 * step keeps only the paths that are best by one criterion. MED is compared
 * only among paths from the same neighbour AS, which makes a pairwise
 * comparator non-transitive (the "MED oscillation" order dependence);
 * elimination over the set gives one answer whatever order the paths come in.
 *
 * Steps, in order:
 *  0. locally originated over learned (BIRD: a static route's preference
 *     beats BGP's; Cisco/FRR: weight 32768)
 *  1. highest LOCAL_PREF (missing = 100)
 *  2. shortest AS_PATH (AS_SET counts 1, confederation segments 0)
 *  3. lowest ORIGIN (IGP < EGP < INCOMPLETE)
 *  4. lowest MED among paths from the same neighbour AS (missing MED = 0)
 *  5. eBGP over iBGP
 *     (IGP cost to the next hop is skipped: we have no IGP)
 *  6. lowest router ID: ORIGINATOR_ID when present, else the peer's BGP Identifier
 *  7. shortest CLUSTER_LIST
 *  8. lowest peer address
 *  9. (determinism only) lowest attribute key, for two originated paths to one prefix
 */
import { parseIp } from '../../../lib/cidr.js';
import type { AsPathSegment, Origin } from '../codec/index.js';
import { attributesKey, DEFAULT_LOCAL_PREF, type Path } from './path.js';

const ORIGIN_RANK: Record<Origin, number> = { IGP: 0, EGP: 1, INCOMPLETE: 2 };

/** AS_PATH length for the decision process (RFC 4271 §9.1.2.2 a; RFC 5065 §5.3). */
export function asPathLength(segments: readonly AsPathSegment[] | undefined): number {
  let n = 0;
  for (const s of segments ?? []) {
    if (s.type === 'AS_SEQUENCE') n += s.asns.length;
    else if (s.type === 'AS_SET') n += 1;
  }
  return n;
}

/**
 * The AS a path entered our AS from (RFC 4271 §9.1.2.2 c): the first AS of a
 * leading AS_SEQUENCE (confederation segments skipped); else, for a path
 * originated inside our AS or aggregated behind an AS_SET, the local AS,
 * which is the peer's AS for an iBGP peer. null for our own paths.
 */
export function neighbourAs(path: Path): number | null {
  for (const s of path.attributes.asPath ?? []) {
    if (s.type === 'AS_CONFED_SEQUENCE' || s.type === 'AS_CONFED_SET') continue;
    if (s.type === 'AS_SEQUENCE' && s.asns.length > 0) return s.asns[0] as number;
    break;
  }
  return path.peer === null ? null : path.peer.asn;
}

/** Address text as a sortable number; v4 sorts before v6, unparseable text last. */
function addressValue(text: string): bigint {
  const ip = parseIp(text);
  if (ip === null) return 1n << 130n;
  return ip.family === 4 ? ip.value : (1n << 32n) + ip.value;
}

function routerIdOf(p: Path): bigint {
  const id = p.attributes.originatorId ?? p.peer?.routerId;
  return id === undefined ? 0n : addressValue(id);
}

/** Keeps the paths with the lowest `score` (numbers or bigints, never mixed in one call). */
function keepLowest<T extends number | bigint>(paths: Path[], score: (p: Path) => T): Path[] {
  if (paths.length < 2) return paths;
  let best: T | undefined;
  let kept: Path[] = [];
  for (const p of paths) {
    const s = score(p);
    if (best === undefined || s < best) {
      best = s;
      kept = [p];
    } else if (s === best) {
      kept.push(p);
    }
  }
  return kept;
}

/** Step 4: drop every path for which another path from the same neighbour AS has a lower MED. */
function keepLowestMedPerNeighbourAs(paths: Path[]): Path[] {
  if (paths.length < 2) return paths;
  const lowest = new Map<number | null, number>();
  for (const p of paths) {
    const as = neighbourAs(p);
    const med = p.attributes.multiExitDisc ?? 0;
    const cur = lowest.get(as);
    if (cur === undefined || med < cur) lowest.set(as, med);
  }
  return paths.filter((p) => (p.attributes.multiExitDisc ?? 0) === lowest.get(neighbourAs(p)));
}

const STEPS: readonly ((paths: Path[]) => Path[])[] = [
  (ps) => keepLowest(ps, (p) => (p.peer === null ? 0 : 1)),
  (ps) => keepLowest(ps, (p) => -(p.attributes.localPref ?? DEFAULT_LOCAL_PREF)),
  (ps) => keepLowest(ps, (p) => asPathLength(p.attributes.asPath)),
  (ps) => keepLowest(ps, (p) => ORIGIN_RANK[p.attributes.origin ?? 'INCOMPLETE']),
  keepLowestMedPerNeighbourAs,
  (ps) => keepLowest(ps, (p) => (p.peer === null || !p.peer.isInternal ? 0 : 1)),
  (ps) => keepLowest(ps, routerIdOf),
  (ps) => keepLowest(ps, (p) => p.attributes.clusterList?.length ?? 0),
  (ps) => keepLowest(ps, (p) => (p.peer === null ? -1n : addressValue(p.peer.address))),
];

/** The best of the candidate paths to one prefix, or null when there are none. */
export function selectBest(paths: readonly Path[]): Path | null {
  if (paths.length === 0) return null;
  if (paths.length === 1) return paths[0] as Path;
  let remaining = [...paths];
  for (const step of STEPS) {
    remaining = step(remaining);
    if (remaining.length === 1) return remaining[0] as Path;
  }
  // Only paths alike in every step above are left (e.g. two originated paths): pick by content.
  let best = remaining[0] as Path;
  let bestKey = attributesKey(best.attributes, best.nextHop, best.linkLocalNextHop);
  for (const p of remaining.slice(1)) {
    const key = attributesKey(p.attributes, p.nextHop, p.linkLocalNextHop);
    if (key < bestKey) {
      best = p;
      bestKey = key;
    }
  }
  return best;
}
