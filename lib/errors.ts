/**
 * One error class for the whole project (STYLE.md §6). Callers branch on
 * `err.code`, never on `instanceof` across packages and never on message text.
 * The table of codes is docs/ERRORS.md.
 */
export const ErrorCodes = [
  'ERR_CONFIG_INVALID',
  'ERR_VALIDATION',
  'ERR_DATASTORE_CONFLICT',
  'ERR_DATASTORE_NOT_FOUND',
  'ERR_DATASTORE_ALREADY_EXISTS',
  'ERR_DATASTORE_UNAVAILABLE',
  'ERR_DATASTORE_COMPACTED',
  'ERR_DATASTORE_UNSUPPORTED',
  'ERR_SELECTOR_SYNTAX',
  'ERR_IPAM_EXHAUSTED',
  'ERR_IPAM_ADDRESS_IN_USE',
  'ERR_IPAM_NO_POOL',
  'ERR_NFT_APPLY',
  'ERR_KERNEL',
  'ERR_USAGE',
  'ERR_BGP_MESSAGE',
] as const;

export type ErrorCode = (typeof ErrorCodes)[number];

export class TortieError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TortieError';
    this.code = code;
    this.details = options.details;
  }
}

export function hasErrorCode(err: unknown, code: ErrorCode): err is TortieError {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
