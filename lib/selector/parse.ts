/**
 * Parser for Calico's selector language (the `selector`, `namespaceSelector`,
 * `nodeSelector`, `peerSelector` fields).
 *
 *   or      := and ( '||' and )*
 *   and     := unary ( '&&' unary )*
 *   unary   := '!'* primary
 *   primary := '(' or ')' | 'all()' | 'global()' | 'has(' key ')'
 *            | key '==' str | key '!=' str | key 'contains' str
 *            | key 'starts with' str | key 'ends with' str
 *            | key 'in' set | key 'not in' set
 *   set     := '{' ( str ( ',' str )* ','? )? '}'
 *   str     := "..." | '...'          (no escapes, as in Calico)
 *   key     := [A-Za-z0-9_./-]+
 *
 * An empty (or all-blank) selector means all(). Errors are values carrying the
 * 1-based column of the offending character (input length + 1 at the end).
 * The result is normalized (see normalize.ts), so equal meaning written the
 * same way always gives the same AST.
 */
import { TortieError } from '../errors.js';
import type { SelectorAst, SelectorParseResult } from './ast.js';
import { normalizeSelector } from './normalize.js';

/** Deeper nesting than this is refused rather than risking the stack. */
const MAX_DEPTH = 200;

export function isSelectorKeyChar(code: number): boolean {
  return (
    (code >= 0x61 && code <= 0x7a) || // a-z
    (code >= 0x41 && code <= 0x5a) || // A-Z
    (code >= 0x30 && code <= 0x39) || // 0-9
    code === 0x5f || // _
    code === 0x2e || // .
    code === 0x2f || // /
    code === 0x2d // -
  );
}

/** True when `key` can be written as a bare label key in a selector. */
export function isSelectorKey(key: string): boolean {
  if (key.length === 0) return false;
  for (let i = 0; i < key.length; i++) {
    if (!isSelectorKeyChar(key.charCodeAt(i))) return false;
  }
  return true;
}

class SyntaxFailure {
  constructor(
    readonly message: string,
    readonly index: number,
  ) {}
}

function isSpace(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r';
}

function isLetter(ch: string | undefined): boolean {
  return ch !== undefined && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'));
}

function describe(ch: string | undefined): string {
  return ch === undefined ? 'end of selector' : JSON.stringify(ch);
}

class SelectorParser {
  private pos = 0;
  private depth = 0;

  constructor(private readonly text: string) {}

  parse(): SelectorAst {
    this.skipSpace();
    if (this.pos === this.text.length) return { op: 'all' };
    const ast = this.parseOr();
    this.skipSpace();
    if (this.pos < this.text.length) {
      this.fail(`unexpected ${describe(this.peek())}; expected &&, || or the end of the selector`);
    }
    return ast;
  }

  private fail(message: string, index = this.pos): never {
    throw new SyntaxFailure(message, index);
  }

  private peek(offset = 0): string | undefined {
    return this.text[this.pos + offset];
  }

  private skipSpace(): void {
    while (isSpace(this.text[this.pos])) this.pos++;
  }

  private readKey(): string {
    const start = this.pos;
    while (this.pos < this.text.length && isSelectorKeyChar(this.text.charCodeAt(this.pos))) this.pos++;
    return this.text.slice(start, this.pos);
  }

  private readWord(): string {
    const start = this.pos;
    while (isLetter(this.text[this.pos])) this.pos++;
    return this.text.slice(start, this.pos);
  }

  private expect(ch: string, what: string): void {
    this.skipSpace();
    if (this.peek() !== ch) this.fail(`expected ${what}, found ${describe(this.peek())}`);
    this.pos++;
  }

  private parseOr(): SelectorAst {
    const operands = [this.parseAnd()];
    for (;;) {
      this.skipSpace();
      if (this.peek() !== '|') break;
      if (this.peek(1) !== '|') this.fail("expected '||'");
      this.pos += 2;
      operands.push(this.parseAnd());
    }
    return operands.length === 1 ? operands[0]! : { op: 'or', operands };
  }

  private parseAnd(): SelectorAst {
    const operands = [this.parseUnary()];
    for (;;) {
      this.skipSpace();
      if (this.peek() !== '&') break;
      if (this.peek(1) !== '&') this.fail("expected '&&'");
      this.pos += 2;
      operands.push(this.parseUnary());
    }
    return operands.length === 1 ? operands[0]! : { op: 'and', operands };
  }

  private parseUnary(): SelectorAst {
    let negations = 0;
    for (;;) {
      this.skipSpace();
      if (this.peek() === '!' && this.peek(1) !== '=') {
        negations++;
        this.pos++;
      } else {
        break;
      }
    }
    const ast = this.parsePrimary();
    // `!!x` is `x`, as in Calico, which collapses leading `!`s the same way.
    return negations % 2 === 1 ? { op: 'not', operand: ast } : ast;
  }

  private parsePrimary(): SelectorAst {
    this.skipSpace();
    const ch = this.peek();
    if (ch === '(') {
      if (++this.depth > MAX_DEPTH) this.fail(`selector nested more than ${MAX_DEPTH} parentheses deep`);
      this.pos++;
      const inner = this.parseOr();
      this.expect(')', "')'");
      this.depth--;
      return inner;
    }
    const key = this.readKey();
    if (key.length === 0) {
      this.fail(
        ch === undefined
          ? 'unexpected end of selector; expected a label key, has(), all(), global(), ! or ('
          : `unexpected ${describe(ch)}; expected a label key, has(), all(), global(), ! or (`,
      );
    }
    const afterKey = this.pos;
    this.skipSpace();
    if (this.peek() === '(' && (key === 'has' || key === 'all' || key === 'global')) {
      this.pos++;
      this.skipSpace();
      if (key === 'has') {
        const hasKeyStart = this.pos;
        const hasKey = this.readKey();
        if (hasKey.length === 0) this.fail(`expected a label key in has(), found ${describe(this.peek())}`, hasKeyStart);
        this.expect(')', "')' after has(" + hasKey);
        return { op: 'has', key: hasKey };
      }
      this.expect(')', `')' after ${key}(`);
      return key === 'all' ? { op: 'all' } : { op: 'global' };
    }
    this.pos = afterKey;
    return this.parseLabelOperation(key);
  }

  private parseLabelOperation(key: string): SelectorAst {
    this.skipSpace();
    const opStart = this.pos;
    const c0 = this.peek();
    const c1 = this.peek(1);
    if (c0 === '=' && c1 === '=') {
      this.pos += 2;
      return { op: 'eq', key, value: this.readQuoted() };
    }
    if (c0 === '!' && c1 === '=') {
      this.pos += 2;
      return { op: 'ne', key, value: this.readQuoted() };
    }
    if (c0 === '=') this.fail("expected '==', found '='");
    const word = this.readWord();
    switch (word) {
      case 'in':
        return { op: 'in', key, values: this.readSet() };
      case 'notin':
        return { op: 'notin', key, values: this.readSet() };
      case 'not':
        this.skipSpace();
        if (this.readWord() !== 'in') this.fail("expected 'in' after 'not'", opStart);
        return { op: 'notin', key, values: this.readSet() };
      case 'contains':
        return { op: 'contains', key, value: this.readQuoted() };
      case 'starts':
      case 'ends': {
        this.skipSpace();
        const withStart = this.pos;
        if (this.readWord() !== 'with') this.fail(`expected 'with' after '${word}'`, withStart);
        return { op: word === 'starts' ? 'startswith' : 'endswith', key, value: this.readQuoted() };
      }
      default:
        this.fail(
          c0 === undefined
            ? `unexpected end of selector after label "${key}"; expected an operator (==, !=, in, not in, contains, starts with, ends with)`
            : `expected an operator after label "${key}" (==, !=, in, not in, contains, starts with, ends with)`,
          opStart,
        );
    }
  }

  private readQuoted(): string {
    this.skipSpace();
    const quote = this.peek();
    if (quote !== '"' && quote !== "'") this.fail('expected a quoted value');
    const start = this.pos;
    const end = this.text.indexOf(quote, start + 1);
    if (end === -1) this.fail('unterminated string', start);
    this.pos = end + 1;
    return this.text.slice(start + 1, end);
  }

  private readSet(): string[] {
    this.skipSpace();
    if (this.peek() !== '{') this.fail(`expected '{' to start a set of quoted values, found ${describe(this.peek())}`);
    this.pos++;
    const values: string[] = [];
    for (;;) {
      this.skipSpace();
      if (this.peek() === '}') break;
      values.push(this.readQuoted());
      this.skipSpace();
      if (this.peek() === ',') {
        this.pos++;
        continue;
      }
      if (this.peek() !== '}') this.fail(`expected ',' or '}' in a set, found ${describe(this.peek())}`);
    }
    this.pos++;
    return values;
  }
}

/** Parses a selector; never throws, syntax errors are returned. */
export function parseSelector(text: string): SelectorParseResult {
  try {
    return { ok: true, selector: normalizeSelector(new SelectorParser(text).parse()) };
  } catch (err) {
    if (err instanceof SyntaxFailure) {
      return { ok: false, error: { message: err.message, column: err.index + 1 } };
    }
    throw err;
  }
}

/** Parses a selector or throws TortieError ERR_SELECTOR_SYNTAX (details: column, selector). */
export function parseSelectorOrThrow(text: string): SelectorAst {
  const result = parseSelector(text);
  if (result.ok) return result.selector;
  const { column, message } = result.error;
  throw new TortieError('ERR_SELECTOR_SYNTAX', `selector ${JSON.stringify(text)} column ${column}: ${message}`, {
    details: { column, selector: text },
  });
}
