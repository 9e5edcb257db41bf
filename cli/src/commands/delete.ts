import type { KindInfo } from '../../../lib/datastore/kinds.js';
import { TortieError, hasErrorCode } from '../../../lib/errors.js';
import type { CommandContext } from '../context.js';
import type { ExitCode } from '../exit-codes.js';
import { forEachObject } from '../per-object.js';
import { qualifiedName } from '../kind-names.js';
import { DEFAULT_NAMESPACE, type Target } from '../resources.js';
import { type FileOptions, loadTargets } from './load.js';
import { resolveKindOrThrow } from './get.js';

/**
 * `tortie delete -f FILE|DIR|-` or `tortie delete KIND NAME... [-n NS]`.
 * With files, every document must name its object before anything is deleted.
 */
export interface DeleteOptions extends FileOptions {
  readonly ignoreNotFound: boolean;
}

function targetsFromArguments(kind: KindInfo, names: readonly string[], namespace: string | undefined): Target[] {
  return names.map((name, position) => ({
    document: { source: '<command line>', index: position + 1, value: null },
    kind,
    name,
    namespace: kind.namespaced ? (namespace ?? DEFAULT_NAMESPACE) : undefined,
  }));
}

export async function runDelete(
  ctx: CommandContext,
  args: { kind: string | undefined; names: readonly string[] },
  options: DeleteOptions,
): Promise<ExitCode> {
  let targets: Target[];
  if (args.kind !== undefined) {
    if (options.filename.length > 0) throw new TortieError('ERR_USAGE', 'give either -f or KIND NAME, not both');
    if (args.names.length === 0) throw new TortieError('ERR_USAGE', `delete ${args.kind}: which one? give a NAME`);
    targets = targetsFromArguments(resolveKindOrThrow(args.kind), args.names, options.namespace);
  } else {
    targets = await loadTargets(ctx, options);
  }
  const datastore = await ctx.datastore();
  return forEachObject(
    ctx,
    targets,
    (target) => qualifiedName(target.kind, target.name),
    async (target) => {
      try {
        await datastore.delete(target.kind, target.name, target.namespace);
        return 'deleted';
      } catch (err) {
        if (!hasErrorCode(err, 'ERR_DATASTORE_NOT_FOUND')) throw err;
        if (options.ignoreNotFound) return 'not found (ignored)';
        const where = target.namespace === undefined ? '' : ` in namespace ${target.namespace}`;
        throw new TortieError('ERR_DATASTORE_NOT_FOUND', `not found${where}`, { cause: err });
      }
    },
  );
}
