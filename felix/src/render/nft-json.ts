import { NFT_TABLE_FAMILY, NFT_TABLE_NAME } from '../../../lib/contract.js';

/**
 * The slice of libnftables' JSON schema (libnftables-json(5)) we write.
 * Expressions and statements are plain JSON values; the builders below keep
 * their spelling in one place.
 */
export type NftExpr = string | number | boolean | null | NftExpr[] | { [key: string]: NftExpr };
export type NftStatement = { [key: string]: NftExpr };

export interface NftTableObj {
  family: string;
  name: string;
}
export interface NftChainObj {
  family: string;
  table: string;
  name: string;
  type?: 'filter';
  hook?: 'input' | 'output' | 'forward';
  prio?: number;
  policy?: 'accept' | 'drop';
}
export interface NftSetObj {
  family: string;
  table: string;
  name: string;
  type: string | string[];
  flags?: string[];
  elem?: NftExpr[];
}
export interface NftMapObj {
  family: string;
  table: string;
  name: string;
  type: string;
  map: 'verdict';
  elem?: [string, NftExpr][];
}
export interface NftRuleObj {
  family: string;
  table: string;
  chain: string;
  expr: NftStatement[];
  comment?: string;
}
/** Elements added to (or deleted from) an existing set or map. */
export interface NftElementObj {
  family: string;
  table: string;
  name: string;
  elem: NftExpr[];
}
export type NftObject =
  | { table: NftTableObj }
  | { chain: NftChainObj }
  | { set: NftSetObj }
  | { map: NftMapObj }
  | { rule: NftRuleObj }
  | { element: NftElementObj };
export type NftCommand = { add: NftObject } | { delete: NftObject } | { flush: NftObject };
/** What `nft -j -f` reads. */
export interface NftJson {
  nftables: NftCommand[];
}

export const TABLE: NftTableObj = { family: NFT_TABLE_FAMILY, name: NFT_TABLE_NAME };
export const inTable = { family: NFT_TABLE_FAMILY, table: NFT_TABLE_NAME } as const;

// ---- expression builders ----
export const meta = (key: string): NftExpr => ({ meta: { key } });
export const payload = (protocol: string, field: string): NftExpr => ({ payload: { protocol, field } });
export const match = (left: NftExpr, op: '==' | '!=' | 'in', right: NftExpr): NftStatement => ({ match: { op, left, right } });
export const anonSet = (items: NftExpr[]): NftExpr => (items.length === 1 ? items[0]! : { set: items });
export const setRef = (name: string): NftExpr => `@${name}`;
export const accept: NftStatement = { accept: null };
export const drop: NftStatement = { drop: null };
export const ret: NftStatement = { return: null };
export const counter: NftStatement = { counter: null };
export const jump = (target: string): NftStatement => ({ jump: { target } });
export const verdictJump = (target: string): NftExpr => ({ jump: { target } });
export const verdictGoto = (target: string): NftExpr => ({ goto: { target } });
export const gotoChain = (target: string): NftStatement => ({ goto: { target } });
export const markHas = (bit: number): NftExpr => ({ '&': [meta('mark'), bit] });
export const setMark = (value: NftExpr): NftStatement => ({ mangle: { key: meta('mark'), value } });
export const markOr = (bit: number): NftStatement => setMark({ '|': [meta('mark'), bit] });
/** Clears bits: mark & ~bits, as a 32-bit unsigned value. */
export const markClear = (bits: number): NftStatement => setMark({ '&': [meta('mark'), (~bits >>> 0)] });

export function rule(chain: string, expr: NftStatement[], comment?: string): { rule: NftRuleObj } {
  const r: NftRuleObj = { ...inTable, chain, expr };
  if (comment !== undefined) r.comment = comment.length > 120 ? `${comment.slice(0, 117)}...` : comment;
  return { rule: r };
}

export function chain(name: string, base?: { hook: 'input' | 'output' | 'forward' }): { chain: NftChainObj } {
  return { chain: base ? { ...inTable, name, type: 'filter', hook: base.hook, prio: 0, policy: 'accept' } : { ...inTable, name } };
}

/** One command per line: what the golden files hold and what debug logs print. Still valid JSON. */
export function formatNftJson(json: NftJson): string {
  return `{"nftables": [\n${json.nftables.map((c) => `  ${JSON.stringify(c)}`).join(',\n')}\n]}\n`;
}
