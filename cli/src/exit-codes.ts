import type { ErrorCode } from '../../lib/errors.js';

/**
 * The exit codes of `tortie`, documented in cli/README.md. Scripts may branch
 * on them, so they never change meaning.
 */
export const ExitCode = {
  /** Everything asked for was done. */
  Ok: 0,
  /** Invalid input: a file that doesn't parse, a resource that doesn't validate; also an unexpected internal error. */
  InvalidInput: 1,
  /** Usage error: unknown command, flag or kind; bad configuration (DATASTORE_TYPE, ETCD_ENDPOINTS, --config); an operation the datastore doesn't support. */
  Usage: 2,
  /** The datastore refused: not found, already exists, or a conflicting concurrent change. */
  Refused: 3,
  /** The datastore could not be reached (or didn't answer in time). */
  Unavailable: 4,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export function exitCodeFor(code: ErrorCode | undefined): ExitCode {
  switch (code) {
    case 'ERR_VALIDATION':
    case 'ERR_SELECTOR_SYNTAX':
      return ExitCode.InvalidInput;
    case 'ERR_USAGE':
    case 'ERR_CONFIG_INVALID':
    case 'ERR_DATASTORE_UNSUPPORTED':
      return ExitCode.Usage;
    case 'ERR_DATASTORE_NOT_FOUND':
    case 'ERR_DATASTORE_ALREADY_EXISTS':
    case 'ERR_DATASTORE_CONFLICT':
      return ExitCode.Refused;
    case 'ERR_DATASTORE_UNAVAILABLE':
    case 'ERR_DATASTORE_COMPACTED':
      return ExitCode.Unavailable;
    default:
      return ExitCode.InvalidInput;
  }
}
