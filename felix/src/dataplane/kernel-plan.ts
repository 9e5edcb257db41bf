/**
 * planNft: the pure half of applying a ruleset (STYLE.md §2 "Split apply in
 * two"). Given the objects the table should hold (renderRuleset's output) and
 * what `nft -j list table inet tortie` says it holds, it returns the commands
 * of ONE transaction that turns the second into the first, touching only the
 * sets, set elements, maps, map elements and chains that differ. An empty
 * plan means "write nothing".
 *
 * Chains: the kernel lists rules in its own normal form (operators,
 * anonymous sets, counters), which is not the form we wrote. So we never
 * compare a desired rule with a listed one. Instead the shell remembers, per
 * chain, the desired rules it wrote and how the kernel listed them afterwards
 * (`ChainRecord`). A chain is unchanged when the kernel still lists it the way
 * it did after our write AND we still want the rules we wrote. The listed form
 * is learnt at the first read after a write, when the listing has the outline
 * of what we wrote (chainOutline); nothing is read back just to learn it. A
 * chain we have no record of (restart, or changed by someone else) is
 * rewritten.
 *
 * Sets and maps: elements are compared in a canonical form (protocol numbers
 * as names, keys sorted); deletions use the kernel's own spelling, so a
 * canonicalisation gap can cost a needless delete+add but never a failed
 * transaction.
 *
 * When there is no table, or something changed that cannot be patched in place
 * (a base chain's hook, a set's type), the plan is a full replace: add the
 * table, delete it, add everything, in one transaction (never an empty table
 * in between).
 */
import { NFT_TABLE_FAMILY, NFT_TABLE_NAME } from '../../../lib/contract.js';
import {
  TABLE,
  inTable,
  type NftChainObj,
  type NftCommand,
  type NftExpr,
  type NftMapObj,
  type NftObject,
  type NftRuleObj,
  type NftSetObj,
} from '../render/nft-json.js';

/** What we remember about a chain we wrote. */
export interface ChainRecord {
  /** The desired rules we wrote (compared by identity first, then by their JSON: see sameRules). */
  readonly rules: readonly NftRuleObj[];
  /** Key of the rules as the kernel listed them after the write; null until the next read. */
  readonly listedKey: string | null;
}

export interface ActualChain {
  readonly chain: NftChainObj;
  /** As listed, handles and counter values stripped. */
  readonly rules: readonly NftRuleObj[];
  readonly listedKey: string;
}
export interface ActualSet {
  readonly set: NftSetObj;
  /** canonical element key -> the element as the kernel spells it */
  readonly elements: ReadonlyMap<string, NftExpr>;
}
export interface ActualMap {
  readonly map: NftMapObj;
  /** canonical key of the map key -> [element as listed, canonical key of the verdict] */
  readonly elements: ReadonlyMap<string, { readonly elem: [string, NftExpr]; readonly value: string }>;
}
export interface ActualTable {
  readonly chains: ReadonlyMap<string, ActualChain>;
  readonly sets: ReadonlyMap<string, ActualSet>;
  readonly maps: ReadonlyMap<string, ActualMap>;
}

export interface NftPlan {
  readonly commands: NftCommand[];
  readonly kind: 'none' | 'incremental' | 'full';
  /** Chains whose rules this plan writes, with those rules (the shell records them once it succeeds). */
  readonly writtenChains: ReadonlyMap<string, readonly NftRuleObj[]>;
  /**
   * Chains written earlier but never read back, whose listing this plan's read
   * showed to be ours (same outline, see chainOutline): name -> listed key.
   */
  readonly learnedChains: ReadonlyMap<string, string>;
  /** Counts for logs. */
  readonly summary: { chains: number; deletedChains: number; sets: number; deletedSets: number; elementsAdded: number; elementsDeleted: number };
}

/** The desired objects grouped by kind. */
interface DesiredTable {
  chains: Map<string, { chain: NftChainObj; rules: NftRuleObj[] }>;
  sets: Map<string, NftSetObj>;
  maps: Map<string, NftMapObj>;
}

const PROTOCOL_NAMES: Readonly<Record<number, string>> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'ipv6-icmp', 132: 'sctp', 136: 'udplite' };

/** Stable JSON: object keys sorted, protocol numbers inside concat elements named as nft lists them. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Concat elements carry a protocol number where the kernel lists a name (`tcp`). */
function canonicalElement(set: NftSetObj, elem: NftExpr): string {
  if (Array.isArray(set.type) && elem !== null && typeof elem === 'object' && !Array.isArray(elem) && Array.isArray(elem['concat'])) {
    const parts = elem['concat'].map((part, i) =>
      set.type[i] === 'inet_proto' && typeof part === 'number' ? (PROTOCOL_NAMES[part] ?? part) : part,
    );
    return canonical({ concat: parts });
  }
  return canonical(elem);
}

/**
 * Identity of a listed chain's content. Plain JSON.stringify (not `canonical`)
 * because it is only compared with keys made the same way from nft's listing,
 * which is deterministic.
 */
export function chainKey(chain: NftChainObj, rules: readonly NftRuleObj[]): string {
  return JSON.stringify([chain.name, chain.type, chain.hook, chain.prio, chain.policy, rules.map((r) => [r.expr, r.comment])]);
}

/**
 * A desired rule's JSON, made once per rule object. The renderer hands back the
 * same objects for what did not change, so an update compares most rules by
 * identity and serialises only those that are new objects.
 * A WeakMap, not a field: rule objects are plain nft JSON and stay so.
 */
const ruleTexts = new WeakMap<NftRuleObj, string>();
export function ruleText(rule: NftRuleObj): string {
  let text = ruleTexts.get(rule);
  if (text === undefined) {
    text = JSON.stringify(rule);
    ruleTexts.set(rule, text);
  }
  return text;
}

/** Same desired rules: the same objects, or rules that serialise alike (the renderer is deterministic). */
export function sameRules(a: readonly NftRuleObj[], b: readonly NftRuleObj[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && ruleText(a[i]!) !== ruleText(b[i]!)) return false;
  return true;
}

function sameChainShape(a: NftChainObj, b: NftChainObj): boolean {
  return a.name === b.name && a.type === b.type && a.hook === b.hook && a.prio === b.prio && a.policy === b.policy;
}
function setShape(s: NftSetObj): string {
  return canonical({ type: s.type, flags: [...(s.flags ?? [])].sort() });
}
function mapShape(m: NftMapObj): string {
  return canonical({ type: m.type, map: m.map });
}

/**
 * Grouped once per objects array: an update plans against the array the last
 * one wrote (actualFromObjects), which was grouped as that one's desired state.
 */
const grouped = new WeakMap<readonly NftObject[], DesiredTable>();
function groupDesired(objects: readonly NftObject[]): DesiredTable {
  let t = grouped.get(objects);
  if (t === undefined) {
    t = groupObjects(objects);
    grouped.set(objects, t);
  }
  return t;
}

function groupObjects(objects: readonly NftObject[]): DesiredTable {
  const t: DesiredTable = { chains: new Map(), sets: new Map(), maps: new Map() };
  const rulesOf = new Map<string, NftRuleObj[]>();
  for (const o of objects) {
    if ('chain' in o) {
      t.chains.set(o.chain.name, { chain: o.chain, rules: [] });
      rulesOf.set(o.chain.name, []);
    } else if ('set' in o) t.sets.set(o.set.name, o.set);
    else if ('map' in o) t.maps.set(o.map.name, o.map);
    else if ('rule' in o) {
      const list = rulesOf.get(o.rule.chain);
      if (list === undefined) throw new Error(`planNft: rule for chain ${o.rule.chain}, which is not declared before it`);
      list.push(o.rule);
    }
  }
  for (const [name, entry] of t.chains) entry.rules = rulesOf.get(name) ?? [];
  return t;
}

/**
 * Reads `nft -j list table inet tortie` output. null when the table is absent
 * (the caller passes null when nft says "No such file or directory").
 */
export function parseNftList(listed: unknown): ActualTable | null {
  const items = (listed as { nftables?: unknown[] } | null)?.nftables;
  if (!Array.isArray(items)) return null;
  const chains = new Map<string, { chain: NftChainObj; rules: NftRuleObj[] }>();
  const sets = new Map<string, ActualSet>();
  const maps = new Map<string, ActualMap>();
  let sawTable = false;
  const ours = (o: { family?: unknown; table?: unknown; name?: unknown }) => o.family === NFT_TABLE_FAMILY && o.table === NFT_TABLE_NAME;
  for (const item of items as Record<string, Record<string, unknown>>[]) {
    if (item['table'] !== undefined) {
      if (item['table']['family'] === NFT_TABLE_FAMILY && item['table']['name'] === NFT_TABLE_NAME) sawTable = true;
    } else if (item['chain'] !== undefined && ours(item['chain'])) {
      const c = item['chain'] as unknown as NftChainObj & { handle?: number; prio?: number };
      const chain: NftChainObj = { ...inTable, name: c.name };
      if (c.type !== undefined) chain.type = c.type;
      if (c.hook !== undefined) chain.hook = c.hook;
      if (c.prio !== undefined) chain.prio = c.prio;
      if (c.policy !== undefined) chain.policy = c.policy;
      chains.set(c.name, { chain, rules: [] });
    } else if (item['rule'] !== undefined && ours(item['rule'])) {
      const r = item['rule'] as unknown as NftRuleObj;
      const rule: NftRuleObj = { ...inTable, chain: r.chain, expr: r.expr.map(stripCounter) };
      if (r.comment !== undefined) rule.comment = r.comment;
      chains.get(r.chain)?.rules.push(rule);
    } else if (item['set'] !== undefined && ours(item['set'])) {
      const s = item['set'] as unknown as NftSetObj;
      const set: NftSetObj = { ...inTable, name: s.name, type: s.type };
      if (s.flags !== undefined) set.flags = s.flags;
      const elements = new Map<string, NftExpr>();
      for (const e of s.elem ?? []) elements.set(canonicalElement(set, unwrapElem(e)), e);
      sets.set(s.name, { set, elements });
    } else if (item['map'] !== undefined && ours(item['map'])) {
      const m = item['map'] as unknown as NftMapObj;
      const map: NftMapObj = { ...inTable, name: m.name, type: m.type, map: m.map };
      const elements = new Map<string, { elem: [string, NftExpr]; value: string }>();
      for (const e of m.elem ?? []) elements.set(canonical(e[0]), { elem: e, value: canonical(e[1]) });
      maps.set(m.name, { map, elements });
    }
  }
  if (!sawTable) return null;
  const actualChains = new Map<string, ActualChain>();
  for (const [name, c] of chains) actualChains.set(name, { chain: c.chain, rules: c.rules, listedKey: chainKey(c.chain, c.rules) });
  return { chains: actualChains, sets, maps };
}

/** An element with a timeout or comment is listed as {elem: {val, ...}}. */
function unwrapElem(e: NftExpr): NftExpr {
  if (e !== null && typeof e === 'object' && !Array.isArray(e) && e['elem'] !== undefined) {
    const inner = e['elem'];
    if (inner !== null && typeof inner === 'object' && !Array.isArray(inner) && inner['val'] !== undefined) return inner['val'];
  }
  return e;
}

function stripCounter(stmt: Record<string, NftExpr>): Record<string, NftExpr> {
  return stmt['counter'] !== undefined ? { counter: null } : stmt;
}

const EMPTY_SUMMARY = { chains: 0, deletedChains: 0, sets: 0, deletedSets: 0, elementsAdded: 0, elementsDeleted: 0 };

export function fullReplace(objects: readonly NftObject[]): NftPlan {
  const desired = groupDesired(objects);
  return {
    kind: 'full',
    commands: [{ add: { table: TABLE } }, { delete: { table: TABLE } }, ...objects.map((o) => ({ add: o }))],
    writtenChains: new Map([...desired.chains].map(([name, c]) => [name, c.rules])),
    learnedChains: new Map(),
    summary: { ...EMPTY_SUMMARY, chains: desired.chains.size, sets: desired.sets.size + desired.maps.size },
  };
}

/**
 * The one transaction from `actual` to `desired`. `records` is what the shell
 * remembers of the chains it wrote (see ChainRecord); an empty map means "we
 * know nothing", which makes the plan a full replace.
 */
export function planNft(
  desiredObjects: readonly NftObject[],
  actual: ActualTable | null,
  records: ReadonlyMap<string, ChainRecord>,
  options: {
    /**
     * `actual` is our own last transaction (actualFromObjects): a chain whose
     * record holds the rules we want is unchanged, listed or not. False for a
     * real read: a chain is unchanged when it lists as it did at the last read;
     * one not read since it was written is kept, and its listed key learnt,
     * when its listing has the outline of the rules we wrote (chainOutline),
     * and rewritten otherwise.
     */
    trustUnlearned?: boolean;
  } = {},
): NftPlan {
  const trustUnlearned = options.trustUnlearned ?? false;
  if (actual === null || records.size === 0) return fullReplace(desiredObjects);
  const desired = groupDesired(desiredObjects);

  // Shapes that cannot be patched in place.
  for (const [name, d] of desired.chains) {
    const a = actual.chains.get(name);
    if (a !== undefined && !sameChainShape(a.chain, d.chain)) return fullReplace(desiredObjects);
  }
  for (const [name, d] of desired.sets) {
    const a = actual.sets.get(name);
    if ((a !== undefined && a.set !== d && setShape(a.set) !== setShape(d)) || actual.maps.has(name)) return fullReplace(desiredObjects);
  }
  for (const [name, d] of desired.maps) {
    const a = actual.maps.get(name);
    if ((a !== undefined && a.map !== d && mapShape(a.map) !== mapShape(d)) || actual.sets.has(name)) return fullReplace(desiredObjects);
  }

  const summary = { ...EMPTY_SUMMARY };
  const addChains: NftCommand[] = [];
  const addSets: NftCommand[] = [];
  const elements: NftCommand[] = [];
  const rules: NftCommand[] = [];
  const removals: NftCommand[] = [];
  const deletions: NftCommand[] = [];
  const writtenChains = new Map<string, readonly NftRuleObj[]>();
  const learnedChains = new Map<string, string>();

  for (const [name, d] of desired.chains) {
    const a = actual.chains.get(name);
    if (a === undefined) {
      addChains.push({ add: { chain: d.chain } });
    } else {
      const record = records.get(name);
      let unchanged = false;
      if (record !== undefined && sameRules(record.rules, d.rules)) {
        if (trustUnlearned) unchanged = true;
        else if (record.listedKey !== null) unchanged = record.listedKey === a.listedKey;
        else if (chainOutline(a.rules) === chainOutline(d.rules)) {
          unchanged = true;
          learnedChains.set(name, a.listedKey);
        }
      }
      if (unchanged) continue;
      rules.push({ flush: { chain: { ...inTable, name } } });
    }
    for (const r of d.rules) rules.push({ add: { rule: r } });
    writtenChains.set(name, d.rules);
    summary.chains++;
  }

  for (const [name, d] of desired.sets) {
    const a = actual.sets.get(name);
    if (a === undefined) {
      addSets.push({ add: { set: d } });
      summary.sets++;
      continue;
    }
    if (a.set === d) continue; // planning against our own last write, which held this very object
    const want = new Map((d.elem ?? []).map((e) => [canonicalElement(d, e), e]));
    const stale = [...a.elements].filter(([k]) => !want.has(k)).map(([, e]) => e);
    const fresh = [...want].filter(([k]) => !a.elements.has(k)).map(([, e]) => e);
    if (stale.length > 0) elements.push({ delete: { element: { ...inTable, name, elem: stale } } } as unknown as NftCommand);
    if (fresh.length > 0) elements.push({ add: { element: { ...inTable, name, elem: fresh } } } as unknown as NftCommand);
    if (stale.length + fresh.length > 0) summary.sets++;
    summary.elementsAdded += fresh.length;
    summary.elementsDeleted += stale.length;
  }
  for (const [name, d] of desired.maps) {
    const a = actual.maps.get(name);
    if (a === undefined) {
      addSets.push({ add: { map: d } });
      summary.sets++;
      continue;
    }
    if (a.map === d) continue;
    const want = new Map((d.elem ?? []).map((e) => [canonical(e[0]), { elem: e, value: canonical(e[1]) }]));
    const stale: [string, NftExpr][] = [];
    const fresh: [string, NftExpr][] = [];
    for (const [k, e] of a.elements) if (want.get(k)?.value !== e.value) stale.push(e.elem);
    for (const [k, e] of want) if (a.elements.get(k)?.value !== e.value) fresh.push(e.elem);
    // Deleting elements that point at chains about to go must happen before those chains are deleted; adding
    // ones that point at new chains after those are added. Both hold in the order below.
    if (stale.length > 0) elements.push({ delete: { element: { ...inTable, name, elem: stale } } } as unknown as NftCommand);
    if (fresh.length > 0) elements.push({ add: { element: { ...inTable, name, elem: fresh } } } as unknown as NftCommand);
    if (stale.length + fresh.length > 0) summary.sets++;
    summary.elementsAdded += fresh.length;
    summary.elementsDeleted += stale.length;
  }

  for (const name of actual.chains.keys()) {
    if (desired.chains.has(name)) continue;
    removals.push({ flush: { chain: { ...inTable, name } } });
    deletions.push({ delete: { chain: { ...inTable, name } } });
    summary.deletedChains++;
  }
  for (const name of actual.sets.keys()) {
    if (desired.sets.has(name)) continue;
    deletions.push({ delete: { set: { ...inTable, name } as NftSetObj } });
    summary.deletedSets++;
  }
  for (const name of actual.maps.keys()) {
    if (desired.maps.has(name)) continue;
    deletions.push({ delete: { map: { ...inTable, name } as NftMapObj } });
    summary.deletedSets++;
  }

  // Order: new chains (so jumps and map verdicts can name them), new sets and maps, element changes, rule rewrites,
  // then flush the chains that go (dropping their references), delete them, and delete the sets nobody references.
  const commands = [...addChains, ...addSets, ...elements, ...rules, ...removals, ...deletions];
  return { kind: commands.length === 0 ? 'none' : 'incremental', commands, writtenChains, learnedChains, summary };
}

/** Statements whose kind survives nft's listing unchanged (matches do not: nft drops implied ones, respells operators). */
const OUTLINE_STATEMENTS = new Set(['accept', 'drop', 'return', 'jump', 'goto', 'counter', 'log', 'vmap', 'mangle']);

/**
 * What of a chain nft lists exactly as we wrote it: per rule its comment, its
 * verdict-like statements (with jump and goto targets) and the named sets it
 * references. A restart writes the whole table without reading it back (a read
 * costs as much as the write); the first real read then takes a chain whose
 * listing has this outline for ours and learns its listed key. Drift in that
 * window that keeps every comment, verdict and set reference (a changed port
 * in a match) goes unseen until the chain is next written; anything else (a
 * flushed chain, an inserted, deleted or retargeted rule) is repaired.
 */
export function chainOutline(rules: readonly NftRuleObj[]): string {
  return JSON.stringify(
    rules.map((r) => {
      const statements: string[] = [];
      for (const s of r.expr) {
        for (const [k, v] of Object.entries(s)) {
          if (!OUTLINE_STATEMENTS.has(k)) continue;
          const target = (k === 'jump' || k === 'goto') && v !== null && typeof v === 'object' && !Array.isArray(v) ? v['target'] : undefined;
          statements.push(typeof target === 'string' ? `${k} ${target}` : k);
        }
      }
      const refs: string[] = [];
      collectSetReferences(r.expr, refs);
      return [r.comment ?? null, statements, refs];
    }),
  );
}

function collectSetReferences(value: unknown, into: string[]): void {
  if (typeof value === 'string') {
    if (value.startsWith('@')) into.push(value);
  } else if (Array.isArray(value)) {
    for (const v of value) collectSetReferences(v, into);
  } else if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) collectSetReferences(v, into);
  }
}

/**
 * The chain records after a plan succeeded: chains it wrote get their desired
 * key and an unknown listed key (learned at the next read); chains whose
 * listing the plan's read confirmed get that listed key; chains it left alone
 * keep theirs; chains that are gone are forgotten.
 */
export function recordsAfter(plan: NftPlan, previous: ReadonlyMap<string, ChainRecord>, desiredObjects: readonly NftObject[]): Map<string, ChainRecord> {
  const names = groupDesired(desiredObjects).chains.keys();
  const next = new Map<string, ChainRecord>();
  for (const name of names) {
    const written = plan.writtenChains.get(name);
    const prev = previous.get(name);
    const learned = plan.learnedChains.get(name);
    if (written !== undefined) next.set(name, { rules: written, listedKey: null });
    else if (prev !== undefined) next.set(name, learned !== undefined ? { rules: prev.rules, listedKey: learned } : prev);
  }
  return next;
}

/**
 * The table as we last wrote it, for planning without reading the kernel: what
 * a successful transaction leaves is exactly what it said. Plan against it
 * with `trustUnlearned` (listed keys are not compared); drift is found at the
 * next real read (NftTable.resync). Made once per objects array.
 */
const fromObjects = new WeakMap<readonly NftObject[], ActualTable>();
export function actualFromObjects(objects: readonly NftObject[]): ActualTable {
  let table = fromObjects.get(objects);
  if (table === undefined) {
    table = tableFromObjects(objects);
    fromObjects.set(objects, table);
  }
  return table;
}

function tableFromObjects(objects: readonly NftObject[]): ActualTable {
  const d = groupDesired(objects);
  const chains = new Map<string, ActualChain>();
  for (const [name, c] of d.chains) chains.set(name, { chain: c.chain, rules: c.rules, listedKey: '' });
  // Elements are keyed only for the sets and maps an update changes (see planNft: an unchanged one is the same object).
  const sets = new Map<string, ActualSet>();
  for (const [name, set] of d.sets) {
    let elements: Map<string, NftExpr> | undefined;
    sets.set(name, { set, get elements() { return (elements ??= new Map((set.elem ?? []).map((e) => [canonicalElement(set, e), e]))); } });
  }
  const maps = new Map<string, ActualMap>();
  for (const [name, map] of d.maps) {
    let elements: Map<string, { elem: [string, NftExpr]; value: string }> | undefined;
    maps.set(name, { map, get elements() { return (elements ??= new Map((map.elem ?? []).map((e) => [canonical(e[0]), { elem: e, value: canonical(e[1]) }]))); } });
  }
  return { chains, sets, maps };
}
