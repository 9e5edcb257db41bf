#!/usr/bin/env node
/**
 * The `tortie` command. This file only wires (the command tree is program.ts):
 * config (once, frozen), the datastore (opened on first use, closed at the
 * end), and the one place where errors become stderr lines and exit codes
 * (cli/src/exit-codes.ts, documented in cli/README.md).
 */
import { CommanderError } from 'commander';
import type { Datastore } from '../../lib/datastore/types.js';
import { TortieError } from '../../lib/errors.js';
import { type CliConfig, loadConfig } from './config.js';
import type { CommandContext } from './context.js';
import { openDatastore } from './datastore.js';
import { ExitCode, exitCodeFor } from './exit-codes.js';
import { type GlobalOptions, buildProgram } from './program.js';
import { readProcessStdin } from './sources.js';

/** One problem per line on stderr, then the exit code for the error. */
function report(err: unknown, stderr: (text: string) => void): ExitCode {
  if (err instanceof CommanderError) {
    // commander has printed its message already; help and --version exit 0.
    return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
  }
  if (err instanceof TortieError) {
    stderr(`${err.message.trimEnd()}\n`);
    return exitCodeFor(err.code);
  }
  const detail = process.env.TORTIE_DEBUG ? ((err as Error).stack ?? String(err)) : String((err as Error).message ?? err);
  stderr(`unexpected error: ${detail}\n`);
  return ExitCode.InvalidInput;
}

async function main(argv: readonly string[]): Promise<ExitCode> {
  const stdout = (text: string) => void process.stdout.write(text);
  const stderr = (text: string) => void process.stderr.write(text);
  let exitCode: ExitCode = ExitCode.Ok;
  let opened: Promise<Datastore> | undefined;

  const program = buildProgram(async (work) => {
    const globals = program.opts<GlobalOptions>();
    const config: CliConfig = loadConfig(globals.config, process.env);
    const ctx: CommandContext = {
      config,
      datastore: () => (opened ??= openDatastore(config, globals.timeout * 1000)),
      stdout,
      stderr,
      readStdin: readProcessStdin,
    };
    exitCode = await work(ctx);
  });

  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    exitCode = report(err, stderr);
  }
  if (opened !== undefined) {
    try {
      await (await opened).close();
    } catch (err) {
      // The command's outcome is already decided and reported; a failed close changes nothing for the user.
      void err;
    }
  }
  return exitCode;
}

process.exit(await main(process.argv));
