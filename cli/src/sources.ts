import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { TortieError } from '../../lib/errors.js';
import { type DocumentProblem, type SourceDocument, parseDocuments } from './documents.js';

/**
 * Reads what `-f` names: a file, a directory (its *.yaml, *.yml and *.json
 * files, sorted by name; subdirectories only with -R), or `-` for stdin.
 */
export interface SourceOptions {
  readonly recursive: boolean;
  /** Reads all of stdin; injected so tests need no real stdin. */
  readonly readStdin: () => Promise<string>;
}

export const STDIN_SOURCE = '<stdin>';
const RESOURCE_FILE = /\.(ya?ml|json)$/i;

/** The files a directory contributes, sorted by name, descending into subdirectories when recursive. */
export async function listResourceFiles(dir: string, recursive: boolean): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (recursive) files.push(...(await listResourceFiles(path, true)));
    } else if (RESOURCE_FILE.test(entry.name)) {
      files.push(path);
    }
  }
  return files;
}

function unreadable(path: string, err: unknown): TortieError {
  const code = (err as NodeJS.ErrnoException).code;
  const reason = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
  return new TortieError('ERR_VALIDATION', `${path}: ${reason}`, { cause: err });
}

/**
 * Every document of every source, in order. Problems (unparseable text, a
 * document that isn't an object) are collected, not thrown, so the caller can
 * report all of them at once. A path that can't be read is thrown as
 * ERR_VALIDATION; a directory without resource files is a problem too, since
 * `-f emptydir/` applying nothing is almost always a mistake.
 */
export async function readSources(
  paths: readonly string[],
  options: SourceOptions,
): Promise<{ documents: SourceDocument[]; problems: DocumentProblem[] }> {
  const documents: SourceDocument[] = [];
  const problems: DocumentProblem[] = [];
  const add = (text: string, source: string): void => {
    const parsed = parseDocuments(text, source);
    documents.push(...parsed.documents);
    problems.push(...parsed.problems);
  };
  for (const path of paths) {
    if (path === '-') {
      add(await options.readStdin(), STDIN_SOURCE);
      continue;
    }
    let isDirectory: boolean;
    try {
      isDirectory = (await stat(path)).isDirectory();
    } catch (err) {
      throw unreadable(path, err);
    }
    const files = isDirectory ? await listResourceFiles(path, options.recursive) : [path];
    if (isDirectory && files.length === 0) {
      problems.push({ source: path, message: `has no *.yaml, *.yml or *.json files${options.recursive ? '' : ' (use -R for subdirectories)'}` });
    }
    for (const file of files) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        throw unreadable(file, err);
      }
      add(text, file);
    }
  }
  return { documents, problems };
}

/** Reads all of process.stdin as UTF-8. */
export async function readProcessStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
