import { parseAllDocuments } from 'yaml';

/**
 * Turning the text of `-f` sources into documents, each remembering where it
 * came from, so every later message can say `FILE: document N (Kind/name)`.
 * Pure: reading files and directories is sources.ts.
 */
export interface SourceDocument {
  /** The file as the user named it (`examples/ippool.yaml`), or `<stdin>`. */
  readonly source: string;
  /** 1-based position of the document in its file (YAML `---` documents; a JSON file is document 1). */
  readonly index: number;
  /** 1-based position inside a `List`'s `items`, when the document was a List. */
  readonly item?: number;
  readonly value: unknown;
}

export interface DocumentProblem {
  readonly source: string;
  readonly index?: number;
  readonly message: string;
}

export interface ParsedDocuments {
  readonly documents: SourceDocument[];
  readonly problems: DocumentProblem[];
}

export type SourceFormat = 'yaml' | 'json';

/** `.json` files are JSON; everything else (`.yaml`, `.yml`, stdin) is YAML, which also reads JSON. */
export function formatOf(source: string): SourceFormat {
  return source.toLowerCase().endsWith('.json') ? 'json' : 'yaml';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `kind: List` (or `IPPoolList`, as `get -o json` of other tools prints) with an `items` array. */
function isList(value: Record<string, unknown>): value is Record<string, unknown> & { items: unknown[] } {
  return typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items);
}

function expand(source: string, index: number, value: unknown, problems: DocumentProblem[]): SourceDocument[] {
  if (!isRecord(value)) {
    const what = Array.isArray(value) ? 'an array' : typeof value === 'string' ? 'a string' : String(value);
    problems.push({ source, index, message: `is ${what}, not a resource object (apiVersion, kind, metadata, spec)` });
    return [];
  }
  if (isList(value)) {
    return value.items.map((entry, position) => ({ source, index, item: position + 1, value: entry }));
  }
  return [{ source, index, value }];
}

/** Splits one source's text into documents. Empty YAML documents (a stray `---`) are skipped but keep their number. */
export function parseDocuments(text: string, source: string, format: SourceFormat = formatOf(source)): ParsedDocuments {
  const documents: SourceDocument[] = [];
  const problems: DocumentProblem[] = [];
  if (format === 'json') {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      problems.push({ source, index: 1, message: `not valid JSON: ${(err as Error).message}` });
      return { documents, problems };
    }
    documents.push(...expand(source, 1, value, problems));
    return { documents, problems };
  }
  const parsed = parseAllDocuments(text);
  // parseAllDocuments returns an EmptyStream (not an array) for input with no documents.
  if (!Array.isArray(parsed)) return { documents, problems };
  parsed.forEach((document, position) => {
    const index = position + 1;
    const error = document.errors[0];
    if (error !== undefined) {
      const firstLine = error.message.split('\n')[0] ?? error.message;
      problems.push({ source, index, message: `not valid YAML: ${firstLine}` });
      return;
    }
    const value: unknown = document.toJS();
    if (value === null || value === undefined) return;
    documents.push(...expand(source, index, value, problems));
  });
  return { documents, problems };
}

/** `FILE: document N` or `FILE: document N, item M`, plus ` (Kind/name)` when the document says them. */
export function describeDocument(document: SourceDocument): string {
  let where = `${document.source}: document ${document.index}`;
  if (document.item !== undefined) where += `, item ${document.item}`;
  const identity = identityOf(document.value);
  return identity === '' ? where : `${where} (${identity})`;
}

export function describeProblem(problem: DocumentProblem): string {
  const where = problem.index === undefined ? problem.source : `${problem.source}: document ${problem.index}`;
  return `${where}: ${problem.message}`;
}

/** `Kind/name`, `Kind/namespace/name`... as far as the raw document says them; '' when it says neither. */
function identityOf(value: unknown): string {
  if (!isRecord(value)) return '';
  const kind = typeof value.kind === 'string' ? value.kind : undefined;
  const metadata = isRecord(value.metadata) ? value.metadata : {};
  const name = typeof metadata.name === 'string' ? metadata.name : undefined;
  if (kind === undefined && name === undefined) return '';
  return `${kind ?? '?'}/${name ?? '?'}`;
}
