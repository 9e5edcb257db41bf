import type { KindInfo } from '../../../lib/datastore/kinds.js';
import type { StoredObject } from '../../../lib/datastore/types.js';
import { TortieError } from '../../../lib/errors.js';
import type { CommandContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { knownKindNames, qualifiedName, resolveKind } from '../kind-names.js';
import { type OutputFormat, renderObjects, sortObjects } from '../output.js';
import { DEFAULT_NAMESPACE } from '../resources.js';

/**
 * `tortie get KIND [NAME...] [-n NS | -A] [-l SELECTOR] [-o FORMAT]`
 * (also `KIND/NAME`, as kubectl accepts). Namespaced kinds list one namespace
 * (`default` unless -n), or every namespace with -A.
 */
export interface GetOptions {
  readonly output: OutputFormat;
  readonly namespace: string | undefined;
  readonly allNamespaces: boolean;
  readonly selector: string | undefined;
}

export function resolveKindOrThrow(typed: string): KindInfo {
  const kind = resolveKind(typed);
  if (kind === null) {
    throw new TortieError('ERR_USAGE', `unknown kind ${JSON.stringify(typed)}; known kinds: ${knownKindNames().join(', ')}`);
  }
  return kind;
}

/** `ippool/default` → kind `ippool`, name `default`; plain `ippools` stays as it is. */
export function splitKindAndName(typed: string, names: readonly string[]): { kind: string; names: string[] } {
  const slash = typed.indexOf('/');
  if (slash < 0) return { kind: typed, names: [...names] };
  if (names.length > 0) throw new TortieError('ERR_USAGE', `give either ${typed} or KIND NAME, not both`);
  return { kind: typed.slice(0, slash), names: [typed.slice(slash + 1)] };
}

export async function runGet(ctx: CommandContext, typedKind: string, typedNames: readonly string[], options: GetOptions): Promise<ExitCode> {
  const { kind: kindWord, names } = splitKindAndName(typedKind, typedNames);
  const kind = resolveKindOrThrow(kindWord);
  if (options.allNamespaces && options.namespace !== undefined) throw new TortieError('ERR_USAGE', 'give either -n or -A, not both');
  if (names.length > 0 && options.allNamespaces) throw new TortieError('ERR_USAGE', '-A lists a kind; to get one by name, give its namespace with -n');
  const namespace = kind.namespaced ? (options.namespace ?? DEFAULT_NAMESPACE) : undefined;
  const datastore = await ctx.datastore();

  let objects: StoredObject[];
  let exitCode: ExitCode = ExitCode.Ok;
  if (names.length > 0) {
    objects = [];
    for (const name of names) {
      const object = await datastore.get(kind, name, namespace);
      if (object === null) {
        ctx.stderr(`${qualifiedName(kind, name)} not found${namespace === undefined ? '' : ` in namespace ${namespace}`}\n`);
        exitCode = ExitCode.Refused;
      } else {
        objects.push(object);
      }
    }
  } else {
    const listOptions: { namespace?: string; labelSelector?: string } = {};
    if (kind.namespaced && !options.allNamespaces && namespace !== undefined) listOptions.namespace = namespace;
    if (options.selector !== undefined) listOptions.labelSelector = options.selector;
    objects = sortObjects((await datastore.list(kind, listOptions)).items);
  }

  if (objects.length === 0) {
    if (names.length === 0 && (options.output === 'table' || options.output === 'wide')) {
      const where = kind.namespaced && !options.allNamespaces ? ` in namespace ${namespace}` : '';
      ctx.stderr(`No ${kind.plural} found${where}.\n`);
    }
    if (names.length === 0 && options.output === 'json') ctx.stdout(renderObjects(kind, [], 'json', { allNamespaces: options.allNamespaces, single: false }));
    return exitCode;
  }
  ctx.stdout(renderObjects(kind, objects, options.output, { allNamespaces: options.allNamespaces, single: names.length === 1 }));
  return exitCode;
}
