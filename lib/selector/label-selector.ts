/**
 * Kubernetes label selectors, in both spellings, converted to and from the
 * same SelectorAst that Calico selectors use, so one matcher serves both:
 * - the object form of NetworkPolicy `podSelector` / `namespaceSelector`
 *   (`matchLabels` + `matchExpressions`);
 * - the string form of `?labelSelector=` (`a=b,c!=d,e in (x,y),f,!g`).
 * Kubernetes' `!=` and `notin` are true when the key is absent, which is
 * exactly Calico's `!=` and `not in`.
 */
import { TortieError } from '../errors.js';
import type { SelectorAst, SelectorParseResult } from './ast.js';
import { normalizeSelector } from './normalize.js';

export type LabelSelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface LabelSelectorRequirement {
  key: string;
  operator: LabelSelectorOperator;
  values?: readonly string[] | null | undefined;
}

export interface LabelSelector {
  matchLabels?: Readonly<Record<string, string>> | null | undefined;
  matchExpressions?: readonly LabelSelectorRequirement[] | null | undefined;
}

/**
 * The AST of a Kubernetes LabelSelector object. `{}`, and also null or
 * undefined, give all(): callers for which Kubernetes gives a missing
 * selector another meaning (a NetworkPolicy peer without namespaceSelector
 * means "this namespace") must decide that before calling.
 * matchLabels come first, sorted by key, then matchExpressions in order.
 * `In` with no values matches nothing and `NotIn` with none matches
 * everything (the API server rejects both; we don't guess further).
 * Throws ERR_VALIDATION for an operator that is not one of the four.
 */
export function labelSelectorToAst(sel: LabelSelector | undefined | null): SelectorAst {
  if (sel === undefined || sel === null) return { op: 'all' };
  const operands: SelectorAst[] = [];
  const matchLabels = sel.matchLabels ?? {};
  for (const key of Object.keys(matchLabels).sort()) {
    operands.push({ op: 'eq', key, value: matchLabels[key]! });
  }
  (sel.matchExpressions ?? []).forEach((req, index) => {
    const values = req.values ?? [];
    switch (req.operator) {
      case 'In':
        operands.push({ op: 'in', key: req.key, values });
        break;
      case 'NotIn':
        operands.push({ op: 'notin', key: req.key, values });
        break;
      case 'Exists':
        operands.push({ op: 'has', key: req.key });
        break;
      case 'DoesNotExist':
        operands.push({ op: 'not', operand: { op: 'has', key: req.key } });
        break;
      default:
        throw new TortieError(
          'ERR_VALIDATION',
          `matchExpressions[${index}].operator: ${JSON.stringify((req as { operator: unknown }).operator)} is not a label selector operator; use In, NotIn, Exists or DoesNotExist`,
          { details: { path: ['matchExpressions', index, 'operator'] } },
        );
    }
  });
  return normalizeSelector({ op: 'and', operands });
}

const NAME_RE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A Kubernetes label key: optional DNS-subdomain prefix (≤253) and `/`, then a name (≤63). */
export function isLabelKey(key: string): boolean {
  const slash = key.indexOf('/');
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (name.length > 63 || !NAME_RE.test(name)) return false;
  if (slash === -1) return true;
  const prefix = key.slice(0, slash);
  return prefix.length > 0 && prefix.length <= 253 && DNS_SUBDOMAIN_RE.test(prefix);
}

/** A Kubernetes label value: empty, or a name of at most 63 characters. */
export function isLabelValue(value: string): boolean {
  return value === '' || (value.length <= 63 && NAME_RE.test(value));
}

class SyntaxFailure {
  constructor(
    readonly message: string,
    readonly index: number,
  ) {}
}

/** Characters that end an identifier in Kubernetes' selector lexer. */
function isSpecial(ch: string | undefined): boolean {
  return ch === undefined || ' \t\n\r\f\v!=(),<>'.includes(ch);
}

class LabelSelectorStringParser {
  private pos = 0;

  constructor(private readonly text: string) {}

  parse(): SelectorAst {
    this.skipSpace();
    if (this.pos === this.text.length) return { op: 'all' };
    const operands: SelectorAst[] = [];
    for (;;) {
      operands.push(this.parseRequirement());
      this.skipSpace();
      if (this.pos === this.text.length) break;
      if (this.text[this.pos] !== ',') this.fail(`expected ',' or the end of the selector, found ${this.describe()}`);
      this.pos++;
    }
    return operands.length === 1 ? operands[0]! : { op: 'and', operands };
  }

  private fail(message: string, index = this.pos): never {
    throw new SyntaxFailure(message, index);
  }

  private describe(): string {
    const ch = this.text[this.pos];
    return ch === undefined ? 'end of selector' : JSON.stringify(ch);
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }

  private readIdentifier(): string {
    const start = this.pos;
    while (!isSpecial(this.text[this.pos])) this.pos++;
    return this.text.slice(start, this.pos);
  }

  private readKey(): string {
    this.skipSpace();
    const start = this.pos;
    const key = this.readIdentifier();
    if (key === '') this.fail(`expected a label key, found ${this.describe()}`);
    if (!isLabelKey(key)) this.fail(`invalid label key ${JSON.stringify(key)}`, start);
    return key;
  }

  private readValue(): string {
    this.skipSpace();
    const start = this.pos;
    const value = this.readIdentifier();
    if (!isLabelValue(value)) this.fail(`invalid label value ${JSON.stringify(value)}`, start);
    return value;
  }

  private parseRequirement(): SelectorAst {
    this.skipSpace();
    if (this.text[this.pos] === '!') {
      this.pos++;
      return { op: 'not', operand: { op: 'has', key: this.readKey() } };
    }
    const key = this.readKey();
    this.skipSpace();
    const opStart = this.pos;
    const c0 = this.text[this.pos];
    const c1 = this.text[this.pos + 1];
    if (c0 === undefined || c0 === ',') return { op: 'has', key };
    if (c0 === '!' && c1 === '=') {
      this.pos += 2;
      return { op: 'ne', key, value: this.readValue() };
    }
    if (c0 === '=') {
      this.pos += c1 === '=' ? 2 : 1;
      return { op: 'eq', key, value: this.readValue() };
    }
    if (c0 === '<' || c0 === '>') this.fail(`the ${c0} operator is not supported here`);
    const word = this.readIdentifier();
    if (word === 'in' || word === 'notin') {
      const values = this.readValueSet();
      return { op: word === 'in' ? 'in' : 'notin', key, values };
    }
    this.fail(`expected =, ==, !=, in, notin, ',' or the end after key ${JSON.stringify(key)}`, opStart);
  }

  private readValueSet(): string[] {
    this.skipSpace();
    if (this.text[this.pos] !== '(') this.fail(`expected '(', found ${this.describe()}`);
    this.pos++;
    this.skipSpace();
    if (this.text[this.pos] === ')') {
      // Kubernetes reads `()` as the set holding only the empty value.
      this.pos++;
      return [''];
    }
    const values: string[] = [];
    for (;;) {
      values.push(this.readValue());
      this.skipSpace();
      const ch = this.text[this.pos];
      if (ch === ',') {
        this.pos++;
        continue;
      }
      if (ch === ')') {
        this.pos++;
        return values;
      }
      this.fail(`expected ',' or ')' in a set of values, found ${this.describe()}`);
    }
  }
}

/**
 * Parses Kubernetes' string form of a label selector (as in
 * `?labelSelector=`): `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`,
 * `a`, `!a`, joined by commas (and). `>` and `<` are refused. Keys and values
 * are checked against Kubernetes' label syntax. Never throws.
 */
export function parseLabelSelectorString(text: string): SelectorParseResult {
  try {
    return { ok: true, selector: normalizeSelector(new LabelSelectorStringParser(text).parse()) };
  } catch (err) {
    if (err instanceof SyntaxFailure) {
      return { ok: false, error: { message: err.message, column: err.index + 1 } };
    }
    throw err;
  }
}

/**
 * The Kubernetes string form of a selector, or null when it has none: only
 * all(), and the and of `==`, `!=`, `in`, `not in` (non-empty sets), has() and
 * !has() over valid Kubernetes keys and values can be written that way.
 */
export function formatLabelSelectorString(ast: SelectorAst): string | null {
  const n = normalizeSelector(ast);
  if (n.op === 'all') return '';
  const operands = n.op === 'and' ? n.operands.filter((o) => o.op !== 'all') : [n];
  const parts: string[] = [];
  for (const o of operands) {
    const part = formatRequirement(o);
    if (part === null) return null;
    parts.push(part);
  }
  return parts.join(',');
}

function formatRequirement(ast: SelectorAst): string | null {
  switch (ast.op) {
    case 'has':
      return isLabelKey(ast.key) ? ast.key : null;
    case 'not':
      return ast.operand.op === 'has' && isLabelKey(ast.operand.key) ? `!${ast.operand.key}` : null;
    case 'eq':
    case 'ne':
      if (!isLabelKey(ast.key) || !isLabelValue(ast.value)) return null;
      return `${ast.key}${ast.op === 'eq' ? '=' : '!='}${ast.value}`;
    case 'in':
    case 'notin':
      if (!isLabelKey(ast.key) || ast.values.length === 0 || !ast.values.every(isLabelValue)) return null;
      return `${ast.key} ${ast.op} (${ast.values.join(',')})`;
    default:
      return null;
  }
}
