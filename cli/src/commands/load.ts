import { validateResource } from '../../../crds/src/index.js';
import type { CommandContext } from '../context.js';
import { describeProblem } from '../documents.js';
import { DEFAULT_NAMESPACE, type Resource, type Target, identifyDocuments, validateDocuments } from '../resources.js';
import { readSources } from '../sources.js';
import { TortieError } from '../../../lib/errors.js';

/** The `-f` options every writing command shares. */
export interface FileOptions {
  readonly filename: readonly string[];
  readonly recursive: boolean;
  readonly namespace: string | undefined;
}

function requireFiles(options: FileOptions): void {
  if (options.filename.length === 0) throw new TortieError('ERR_USAGE', 'no input: give -f FILE, -f DIR or -f - (stdin)');
}

async function readAll(ctx: CommandContext, options: FileOptions) {
  requireFiles(options);
  const { documents, problems } = await readSources(options.filename, { recursive: options.recursive, readStdin: ctx.readStdin });
  return { documents, problems: problems.map(describeProblem) };
}

function namespaces(options: FileOptions) {
  return { namespace: options.namespace, defaultNamespace: DEFAULT_NAMESPACE };
}

/**
 * Reads and validates every document of every `-f` source. Either all of
 * them are good and come back as resources, or every problem is thrown as
 * one ERR_VALIDATION whose message has one line per problem, and nothing is
 * written.
 */
export async function loadResources(ctx: CommandContext, options: FileOptions): Promise<Resource[]> {
  const { documents, problems } = await readAll(ctx, options);
  const validated = validateDocuments(documents, validateResource, namespaces(options));
  const all = [...problems, ...validated.problems];
  if (all.length > 0) throw new TortieError('ERR_VALIDATION', all.join('\n'), { details: { problems: all } });
  if (validated.resources.length === 0) throw new TortieError('ERR_VALIDATION', `${options.filename.join(', ')}: no resources found`);
  return validated.resources;
}

/** As loadResources, for delete: only which objects the documents name must be clear. */
export async function loadTargets(ctx: CommandContext, options: FileOptions): Promise<Target[]> {
  const { documents, problems } = await readAll(ctx, options);
  const identified = identifyDocuments(documents, namespaces(options));
  const all = [...problems, ...identified.problems];
  if (all.length > 0) throw new TortieError('ERR_VALIDATION', all.join('\n'), { details: { problems: all } });
  if (identified.targets.length === 0) throw new TortieError('ERR_VALIDATION', `${options.filename.join(', ')}: no resources found`);
  return identified.targets;
}
