/**
 * Calico's selector language, parsed once into this AST and matched against
 * label maps (match.ts). Kubernetes LabelSelectors convert into the same AST
 * (label-selector.ts), so one matcher serves both.
 */
export type SelectorAst =
  | { op: 'all' }
  | { op: 'global' }
  | { op: 'has'; key: string }
  | { op: 'eq'; key: string; value: string }
  | { op: 'ne'; key: string; value: string }
  | { op: 'in'; key: string; values: readonly string[] }
  | { op: 'notin'; key: string; values: readonly string[] }
  | { op: 'contains'; key: string; value: string }
  | { op: 'startswith'; key: string; value: string }
  | { op: 'endswith'; key: string; value: string }
  | { op: 'not'; operand: SelectorAst }
  | { op: 'and'; operands: readonly SelectorAst[] }
  | { op: 'or'; operands: readonly SelectorAst[] };

export interface SelectorSyntaxError {
  message: string;
  /** 1-based column of the offending character in the input. */
  column: number;
}

export type SelectorParseResult =
  | { ok: true; selector: SelectorAst }
  | { ok: false; error: SelectorSyntaxError };

export type Labels = Readonly<Record<string, string>>;
