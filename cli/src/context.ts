import type { Datastore } from '../../lib/datastore/types.js';
import type { CliConfig } from './config.js';

/**
 * What every command is handed by main.ts, the only composition root: the
 * frozen config, a lazily opened datastore, and where to write. Commands
 * return an exit code (cli/src/exit-codes.ts) or throw a TortieError, which
 * main.ts turns into a message on stderr and an exit code.
 */
export interface CommandContext {
  readonly config: CliConfig;
  /** Opens the datastore on first use (and returns the same one after); main.ts closes it. */
  datastore(): Promise<Datastore>;
  /** Results: tables, YAML, `... created`. */
  readonly stdout: (text: string) => void;
  /** Problems, one line each. Nothing else goes there. */
  readonly stderr: (text: string) => void;
  readonly readStdin: () => Promise<string>;
}
