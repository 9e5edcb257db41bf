import type { KindInfo } from '../../../lib/datastore/kinds.js';
import type { Datastore } from '../../../lib/datastore/types.js';
import { TortieError, hasErrorCode } from '../../../lib/errors.js';
import type { CommandContext } from '../context.js';
import type { ExitCode } from '../exit-codes.js';
import { forEachObject } from '../per-object.js';
import { qualifiedName } from '../kind-names.js';
import { mergeForUpdate, planApply, withoutServerFields } from '../plan-write.js';
import type { Resource } from '../resources.js';
import { type FileOptions, loadResources } from './load.js';

/**
 * apply, create and replace: validate every document first (one bad document
 * and nothing is written), then write them in file order, one line per
 * object, as kubectl prints it. A refusal (exists, not found, conflict) is
 * reported and the rest continue; an unreachable datastore stops the run.
 */
export type WriteMode = 'apply' | 'create' | 'replace';
type Outcome = 'created' | 'configured' | 'unchanged' | 'replaced';

/** How often apply re-reads and retries when someone else wrote in between. */
export const APPLY_ATTEMPTS = 5;

function namespaceSuffix(kind: KindInfo, namespace: string | undefined): string {
  return kind.namespaced && namespace !== undefined ? ` in namespace ${namespace}` : '';
}

async function applyOne(datastore: Datastore, { kind, object }: Resource): Promise<Outcome> {
  for (let attempt = 1; ; attempt++) {
    const current = await datastore.get(kind, object.metadata.name, object.metadata.namespace);
    const plan = planApply(object, current);
    try {
      switch (plan.action) {
        case 'unchanged':
          return 'unchanged';
        case 'create':
          await datastore.create(kind, plan.object);
          return 'created';
        case 'update':
          await datastore.update(kind, plan.object);
          return 'configured';
      }
    } catch (err) {
      // Someone else created or changed it between our get and our write: read again.
      const raced = hasErrorCode(err, 'ERR_DATASTORE_CONFLICT') || hasErrorCode(err, 'ERR_DATASTORE_ALREADY_EXISTS');
      if (!raced || attempt >= APPLY_ATTEMPTS) throw err;
    }
  }
}

async function createOne(datastore: Datastore, { kind, object }: Resource): Promise<Outcome> {
  try {
    await datastore.create(kind, withoutServerFields(object));
  } catch (err) {
    if (!hasErrorCode(err, 'ERR_DATASTORE_ALREADY_EXISTS')) throw err;
    throw new TortieError('ERR_DATASTORE_ALREADY_EXISTS', `already exists${namespaceSuffix(kind, object.metadata.namespace)}; use apply or replace to change it`, { cause: err });
  }
  return 'created';
}

/** replace: the object must exist. A resourceVersion in the file makes it a compare-and-swap on that revision. */
async function replaceOne(datastore: Datastore, { kind, object }: Resource): Promise<Outcome> {
  const givenRevision = object.metadata.resourceVersion;
  for (let attempt = 1; ; attempt++) {
    const current = await datastore.get(kind, object.metadata.name, object.metadata.namespace);
    if (current === null) {
      throw new TortieError('ERR_DATASTORE_NOT_FOUND', `not found${namespaceSuffix(kind, object.metadata.namespace)}; use create or apply`);
    }
    try {
      await datastore.update(kind, mergeForUpdate(object, current, givenRevision));
      return 'replaced';
    } catch (err) {
      if (!hasErrorCode(err, 'ERR_DATASTORE_CONFLICT')) throw err;
      if (givenRevision !== undefined) {
        throw new TortieError('ERR_DATASTORE_CONFLICT', `changed since resourceVersion ${givenRevision}; get it again, or drop resourceVersion to replace whatever is there`, { cause: err });
      }
      if (attempt >= APPLY_ATTEMPTS) throw err;
    }
  }
}

const writers: Record<WriteMode, (datastore: Datastore, resource: Resource) => Promise<Outcome>> = {
  apply: applyOne,
  create: createOne,
  replace: replaceOne,
};

export async function runWrite(ctx: CommandContext, mode: WriteMode, options: FileOptions): Promise<ExitCode> {
  const resources = await loadResources(ctx, options);
  const datastore = await ctx.datastore();
  const write = writers[mode];
  return forEachObject(
    ctx,
    resources,
    (resource) => qualifiedName(resource.kind, resource.object.metadata.name),
    (resource) => write(datastore, resource),
  );
}
