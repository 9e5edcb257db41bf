import { CALICO_API_VERSION, TORTIE_GROUP } from '../../lib/contract.js';
import { type KindInfo, allKinds, groupOf } from '../../lib/datastore/kinds.js';

/**
 * What a user may type for a kind, as kubectl and calicoctl accept it: the
 * kind, its plural, its singular or a short name, in any case (`IPPool`,
 * `ippools`, `ippool`, `gnp`), optionally qualified by group
 * (`networkpolicies.networking.k8s.io`, `ippools.projectcalico.org`).
 * Where a tortie kind and a core kind share a name (NetworkPolicy, Node), the
 * tortie kind wins, as Calico's own resources do in calicoctl; the core kind
 * is still reachable by its short name (`netpol`, `no`) or qualified name.
 */
const CALICO_GROUP = CALICO_API_VERSION.slice(0, CALICO_API_VERSION.indexOf('/'));

function namesOf(kind: KindInfo): string[] {
  return [kind.kind, kind.plural, kind.singular, ...kind.shortNames].map((name) => name.toLowerCase());
}

function groupsOf(kind: KindInfo): string[] {
  const group = groupOf(kind);
  return group === TORTIE_GROUP ? [TORTIE_GROUP, CALICO_GROUP] : [group];
}

export function resolveKind(typed: string, kinds: readonly KindInfo[] = allKinds): KindInfo | null {
  const word = typed.trim().toLowerCase();
  if (word === '') return null;
  const matches = (name: string, group: string | undefined) =>
    kinds.filter((kind) => namesOf(kind).includes(name) && (group === undefined || groupsOf(kind).includes(group)));
  let candidates = matches(word, undefined);
  if (candidates.length === 0) {
    const dot = word.indexOf('.');
    if (dot > 0) candidates = matches(word.slice(0, dot), word.slice(dot + 1));
  }
  return candidates.find((kind) => kind.isTortieKind) ?? candidates[0] ?? null;
}

/** The plural names a user can ask for, for the "unknown kind" message. */
export function knownKindNames(kinds: readonly KindInfo[] = allKinds): string[] {
  return kinds.filter((kind) => kind.isTortieKind).map((kind) => kind.plural);
}

/** kubectl's `ippool.crd.tortie.dev/default-ipv4-ippool` (`pod/x` for the core group). */
export function qualifiedName(kind: KindInfo, name: string): string {
  const group = groupOf(kind);
  return group === '' ? `${kind.singular}/${name}` : `${kind.singular}.${group}/${name}`;
}
