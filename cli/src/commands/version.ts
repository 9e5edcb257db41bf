import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kinds } from '../../../lib/datastore/kinds.js';
import { hasErrorCode } from '../../../lib/errors.js';
import type { CommandContext } from '../context.js';
import { describeDatastore } from '../datastore.js';
import { ExitCode } from '../exit-codes.js';

/**
 * `tortie version`: the client version (package.json), the datastore type,
 * and whether the datastore answers. Exits 4 when it doesn't, so it doubles
 * as a health check in scripts.
 */

/** The version in tortie's package.json, found by walking up from this file (cli/src in the source tree, dist/cli/src when built). */
export function clientVersion(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (manifest.name === 'tortie' && typeof manifest.version === 'string') return manifest.version;
    } catch (err) {
      // No package.json at this level (or not ours): keep walking up.
      void err;
    }
    if (dirname(dir) === dir) return 'unknown';
  }
}

export async function runVersion(ctx: CommandContext): Promise<ExitCode> {
  const lines: [string, string][] = [
    ['Client Version:', `v${clientVersion()}`],
    ['Datastore Type:', ctx.config.datastoreType],
    ['Datastore:', describeDatastore(ctx.config)],
  ];
  let problem: string | null = null;
  try {
    const datastore = await ctx.datastore();
    await datastore.list(Kinds.IPPool);
    lines.push(['Datastore Status:', 'reachable']);
  } catch (err) {
    if (hasErrorCode(err, 'ERR_DATASTORE_UNAVAILABLE')) {
      lines.push(['Datastore Status:', 'unreachable']);
      problem = err.message;
    } else {
      // It answered, with an error (say, a cluster without tortie's CRDs): reachable, and worth showing.
      lines.push(['Datastore Status:', `reachable, but listing ippools failed: ${(err as Error).message}`]);
    }
  }
  const width = Math.max(...lines.map(([label]) => label.length)) + 1;
  ctx.stdout(lines.map(([label, value]) => `${label.padEnd(width)}${value}\n`).join(''));
  if (problem !== null) {
    ctx.stderr(`${problem}\n`);
    return ExitCode.Unavailable;
  }
  return ExitCode.Ok;
}
