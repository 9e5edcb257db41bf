import type { z } from 'zod';
import { CALICO_API_VERSION, TORTIE_API_VERSION } from '../../lib/contract.js';
import { allKinds, kindOf, type KindInfo } from '../../lib/datastore/kinds.js';
import type { StoredObject } from '../../lib/datastore/types.js';
import { fieldHints } from './fields/hints.js';
import { fieldsAt, schemaAt, unwrapChain } from './schema-walk.js';
import { schemaFor, schemasByKind, type ResourceOf } from './schemas.js';
import type { KindKey } from '../../lib/datastore/kinds.js';

/** One thing wrong with an object: where (`spec.ingress[0].action`) and what, in words a user can act on. */
export interface ValidationIssue {
  path: string;
  message: string;
}

export type ValidationResult =
  | { ok: true; kind: KindInfo; object: StoredObject }
  | { ok: false; issues: ValidationIssue[] };

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `['spec', 'ingress', 0, 'action']` → `spec.ingress[0].action`; odd keys are quoted: `metadata.labels["app.kubernetes.io/name"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && IDENTIFIER.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}

/** One line per issue, `path: message`. */
export function formatIssues(issues: readonly ValidationIssue[]): string {
  return issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`)).join('\n');
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  return String(value);
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'an object (a map of fields)',
  array: 'a list',
  record: 'a map of keys to values',
  null: 'null',
  bigint: 'an integer',
};

function hintAt(root: z.ZodType, path: readonly PropertyKey[]): string | undefined {
  const schema = schemaAt(root, path);
  if (schema === undefined) return undefined;
  for (const s of unwrapChain(schema)) {
    const h = fieldHints.get(s);
    if (h !== undefined) return h.expected;
  }
  return undefined;
}

function isIntegerAt(root: z.ZodType, path: readonly PropertyKey[]): boolean {
  const schema = schemaAt(root, path);
  if (schema === undefined) return false;
  for (const s of unwrapChain(schema)) {
    const format = (s._zod.def as { format?: unknown }).format;
    if (typeof format === 'string' && /int/.test(format)) return true;
  }
  return false;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] ?? 0;
      row[j] = Math.min(cur + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] ?? 0;
}

/** The closest of `candidates` to `word` when it is close enough to be a typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = c.toLowerCase() === word.toLowerCase() ? 0 : editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

/** Words from other firewalls and CNIs that mean one of our enum values. */
const SYNONYMS: Readonly<Record<string, string>> = { accept: 'Allow', permit: 'Allow', drop: 'Deny', reject: 'Deny', block: 'Deny', ipip: 'Always', true: 'Always', false: 'Never' };

function synonymIn(word: string, values: readonly string[]): string | undefined {
  const meaning = SYNONYMS[word.toLowerCase()];
  return meaning !== undefined && values.includes(meaning) ? meaning : undefined;
}

function sizeWords(origin: string, bound: number | bigint, below: boolean): string {
  const n = Number(bound);
  if (origin === 'string') return below ? (n === 1 ? 'must not be empty' : `needs at least ${n} characters`) : `must be at most ${n} characters long`;
  if (origin === 'array' || origin === 'set') return below ? `needs at least ${n} ${n === 1 ? 'entry' : 'entries'}` : `takes at most ${n} entries`;
  return below ? `must be at least ${n}` : `must be at most ${n}`;
}

/**
 * Turns zod issues into messages: built from each issue's `code`, `path` and
 * data (never from zod's message text), plus the field's hint. Custom issues
 * carry messages written in this package, and are used as they are.
 */
export function issuesFromZod(issues: readonly z.core.$ZodIssue[], root: z.ZodType, basePath: readonly PropertyKey[] = []): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  for (const issue of issues) {
    const path = [...basePath, ...issue.path];
    const hint = hintAt(root, issue.path);
    const rightly = hint === undefined ? '' : `; use ${hint}`;
    switch (issue.code) {
      case 'invalid_type': {
        const expected = issue.expected === 'number' && isIntegerAt(root, issue.path) ? TYPE_WORDS.int : (TYPE_WORDS[issue.expected] ?? issue.expected);
        if (issue.input === undefined) out.push({ path: formatPath(path), message: `is required${hint === undefined ? ` (${expected})` : `: ${hint}`}` });
        else out.push({ path: formatPath(path), message: `expected ${hint ?? expected}, got ${describeValue(issue.input)}` });
        break;
      }
      case 'unrecognized_keys': {
        const known = fieldsAt(root, issue.path);
        for (const key of issue.keys) {
          const guess = closest(key, known);
          out.push({
            path: formatPath([...path, key]),
            message: `unknown field${guess === undefined ? '' : `; did you mean "${guess}"?`}${known.length > 0 ? ` Known fields here: ${known.join(', ')}` : ''}`,
          });
        }
        break;
      }
      case 'invalid_value': {
        const values = issue.values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
        const input = issue.input;
        const guess = typeof input === 'string' ? (closest(input, values) ?? synonymIn(input, values)) : undefined;
        const got = input === undefined ? '' : `${describeValue(input)} is not valid; `;
        const want = values.length === 1 ? `must be ${values[0]}` : `must be one of ${values.join(', ')}`;
        out.push({ path: formatPath(path), message: `${got}${want}${guess === undefined ? '' : ` (did you mean ${guess}?)`}` });
        break;
      }
      case 'too_small':
      case 'too_big': {
        const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
        const got = issue.origin === 'number' || issue.origin === 'int' ? `${describeValue(issue.input)} is out of range; ` : '';
        out.push({ path: formatPath(path), message: `${got}${sizeWords(issue.origin, bound, issue.code === 'too_small')}${rightly}` });
        break;
      }
      case 'invalid_format':
        out.push({ path: formatPath(path), message: `${describeValue(issue.input)} is not ${hint ?? `in the expected format${issue.pattern === undefined ? '' : ` (${issue.pattern})`}`}` });
        break;
      case 'not_multiple_of':
        out.push({ path: formatPath(path), message: `${describeValue(issue.input)} must be a multiple of ${String(issue.divisor)}` });
        break;
      case 'invalid_union':
      case 'invalid_key':
      case 'invalid_element':
        out.push({ path: formatPath(path), message: `${describeValue(issue.input)} is not valid here${rightly}` });
        break;
      case 'custom':
        out.push({ path: formatPath(path), message: issue.message });
        break;
      default:
        out.push({ path: formatPath(path), message: `is not valid${rightly}` });
    }
  }
  return dedupe(out);
}

function dedupe(issues: ValidationIssue[]): ValidationIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.path}\u0000${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kindList(): string {
  return [...new Set(allKinds.map((k) => (k.isTortieKind ? k.kind : `${k.apiVersion} ${k.kind}`)))].join(', ');
}

/**
 * Parses an object of a kind already known (as a datastore consumer does):
 * defaults applied, or the issues. An invalid object is to be treated as absent.
 */
export function validateAs(kind: KindInfo, input: unknown): ValidationResult {
  const schema = schemaFor(kind);
  const result = schema.safeParse(input, { reportInput: true });
  if (!result.success) return { ok: false, issues: issuesFromZod(result.error.issues, schema) };
  return { ok: true, kind, object: result.data as StoredObject };
}

/**
 * Typed parse of an object of a kind named by its key in `Kinds`:
 * `parseResource('IPPool', stored)` gives an `IPPool` with defaults applied.
 */
export function parseResource<K extends KindKey>(
  key: K,
  input: unknown,
): { ok: true; object: ResourceOf<K> } | { ok: false; issues: ValidationIssue[] } {
  const schema: z.ZodType = schemasByKind[key];
  const result = schema.safeParse(input, { reportInput: true });
  if (!result.success) return { ok: false, issues: issuesFromZod(result.error.issues, schema) };
  return { ok: true, object: result.data as ResourceOf<K> };
}

/**
 * Validates an object as a user wrote it: finds its kind from apiVersion and
 * kind (projectcalico.org/v3 is rewritten to crd.tortie.dev/v1), checks it,
 * and returns it with defaults applied, or every issue found.
 */
export function validateResource(input: unknown): ValidationResult {
  if (!isRecord(input)) {
    return { ok: false, issues: [{ path: '', message: `expected a resource (an object with apiVersion, kind, metadata and spec), got ${describeValue(input)}` }] };
  }
  const { apiVersion, kind } = input;
  const head: ValidationIssue[] = [];
  if (typeof apiVersion !== 'string') head.push({ path: 'apiVersion', message: `is required: ${TORTIE_API_VERSION} for tortie kinds (${CALICO_API_VERSION} is accepted too)` });
  if (typeof kind !== 'string') head.push({ path: 'kind', message: `is required: one of ${kindList()}` });
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return { ok: false, issues: head };

  const effectiveApiVersion = apiVersion === CALICO_API_VERSION ? TORTIE_API_VERSION : apiVersion;
  const info = kindOf(effectiveApiVersion, kind);
  if (info === undefined) return { ok: false, issues: [unknownKindIssue(apiVersion, kind)] };

  const object = { ...input, apiVersion: effectiveApiVersion };
  const result = validateAs(info, object);
  const scope = scopeIssue(info, input.metadata);
  if (scope === undefined) return result;
  return { ok: false, issues: [scope, ...(result.ok ? [] : result.issues)] };
}

function unknownKindIssue(apiVersion: string, kind: string): ValidationIssue {
  const sameKind = allKinds.filter((k) => k.kind === kind);
  if (sameKind.length > 0) {
    const versions = sameKind.map((k) => k.apiVersion).join(' or ');
    return { path: 'apiVersion', message: `${kind} is not served by ${apiVersion}; use apiVersion ${versions}` };
  }
  const guess = closest(kind, [...new Set(allKinds.map((k) => k.kind))]);
  return {
    path: 'kind',
    message: `unknown kind ${JSON.stringify(kind)}${guess === undefined ? '' : `; did you mean ${guess}?`} Known kinds: ${kindList()}`,
  };
}

function scopeIssue(info: KindInfo, metadata: unknown): ValidationIssue | undefined {
  if (!info.namespaced && isRecord(metadata) && typeof metadata.namespace === 'string' && metadata.namespace !== '') {
    return { path: 'metadata.namespace', message: `${info.kind} is cluster-scoped and has no namespace; remove metadata.namespace` };
  }
  return undefined;
}
