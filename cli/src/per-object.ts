import { hasErrorCode } from '../../lib/errors.js';
import type { CommandContext } from './context.js';
import { ExitCode, exitCodeFor } from './exit-codes.js';

/**
 * The loop of every command that acts on several objects (apply, create,
 * replace, delete): one line per object on stdout, `NAME verb`, as kubectl
 * prints it. A refusal (not found, already exists, conflict, unsupported) is
 * one line on stderr and the rest continue; the exit code is that of the
 * first refusal. Anything else (datastore unavailable) stops the run.
 */
export async function forEachObject<T>(
  ctx: CommandContext,
  items: readonly T[],
  label: (item: T) => string,
  fn: (item: T) => Promise<string>,
): Promise<ExitCode> {
  let exitCode: ExitCode = ExitCode.Ok;
  for (const item of items) {
    try {
      ctx.stdout(`${label(item)} ${await fn(item)}\n`);
    } catch (err) {
      const refused =
        hasErrorCode(err, 'ERR_DATASTORE_NOT_FOUND') ||
        hasErrorCode(err, 'ERR_DATASTORE_ALREADY_EXISTS') ||
        hasErrorCode(err, 'ERR_DATASTORE_CONFLICT') ||
        hasErrorCode(err, 'ERR_DATASTORE_UNSUPPORTED');
      if (!refused) throw err;
      ctx.stderr(`${label(item)}: ${err.message}\n`);
      if (exitCode === ExitCode.Ok) exitCode = exitCodeFor(err.code);
    }
  }
  return exitCode;
}

