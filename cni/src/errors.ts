/**
 * CNI error objects (CNI spec §5 "Error"): what the plugin prints on stdout,
 * with a non-zero exit, when a command fails. Codes 0–99 are the spec's;
 * 100 and up are ours. main.ts is the one boundary that converts: a CniError
 * passes through, a TortieError is mapped by its code (cniErrorFrom), anything
 * else becomes 999 with its message (STYLE.md §6).
 */
import { type ErrorCode, hasErrorCode } from '../../lib/errors.js';

export const CniErrorCodes = {
  /** 1: the config's cniVersion is one we do not speak, or it does not allow the command. */
  IncompatibleVersion: 1,
  /** 2: a field has a value we do not support; the message names the key and the value. */
  UnsupportedField: 2,
  /** 3: the container is unknown or gone; the runtime need not call DEL. */
  UnknownContainer: 3,
  /** 4: a CNI_* variable is missing or malformed; the message names it. */
  InvalidEnvironment: 4,
  /** 5: reading stdin, or another I/O, failed. */
  IoFailure: 5,
  /** 6: stdin is not JSON, or a value does not decode. */
  DecodingFailure: 6,
  /** 7: the network configuration is invalid; `details` lists each field path and what is wrong. */
  InvalidNetworkConfig: 7,
  /** 11: a transient condition (datastore unreachable, compare-and-swap retries used up): retry later. */
  TryAgainLater: 11,
  /** 50 (STATUS): the plugin cannot serve ADD now. */
  PluginNotAvailable: 50,
  /** 51 (STATUS): the plugin cannot serve ADD, and existing pods may have limited connectivity. */
  PluginNotAvailableLimitedConnectivity: 51,
  /** 100: no free address in the pools the pod may use. */
  IpamExhausted: 100,
  /** 101: an address asked for (tortie.dev/ipAddrs) is held by another workload. */
  AddressInUse: 101,
  /** 102: an address or pool asked for is in no usable IP pool. */
  NoPool: 102,
  /** 103: the kernel refused a change (netlink, sysctl), or lacks a feature. */
  Kernel: 103,
  /** 104: the datastore refused an operation for a reason retrying will not fix. */
  Datastore: 104,
  /** 105 (CHECK): an address of prevResult is no longer allocated to this container. */
  AllocationMissing: 105,
  /** 999: anything else; the message says what. */
  Internal: 999,
} as const;

export type CniErrorCode = (typeof CniErrorCodes)[keyof typeof CniErrorCodes];

export class CniError extends Error {
  readonly code: CniErrorCode;
  /** The spec's longer description (a string), e.g. each invalid field path on its own line. */
  readonly details: string | undefined;

  constructor(code: CniErrorCode, message: string, options: { details?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CniError';
    this.code = code;
    this.details = options.details;
  }
}

/** The spec's error object. */
export interface CniErrorJson {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

export function isCniError(err: unknown): err is CniError {
  return err instanceof CniError;
}

const fromTortieCode: Partial<Record<ErrorCode, CniErrorCode>> = {
  ERR_DATASTORE_CONFLICT: CniErrorCodes.TryAgainLater,
  ERR_DATASTORE_UNAVAILABLE: CniErrorCodes.TryAgainLater,
  ERR_IPAM_EXHAUSTED: CniErrorCodes.IpamExhausted,
  ERR_IPAM_ADDRESS_IN_USE: CniErrorCodes.AddressInUse,
  ERR_IPAM_NO_POOL: CniErrorCodes.NoPool,
  ERR_CONFIG_INVALID: CniErrorCodes.InvalidNetworkConfig,
  ERR_VALIDATION: CniErrorCodes.InvalidNetworkConfig,
  ERR_KERNEL: CniErrorCodes.Kernel,
  ERR_DATASTORE_NOT_FOUND: CniErrorCodes.Datastore,
  ERR_DATASTORE_ALREADY_EXISTS: CniErrorCodes.Datastore,
  ERR_DATASTORE_UNSUPPORTED: CniErrorCodes.Datastore,
};

/** Any thrown value as a CniError: CniError as is, TortieError by its code, the rest as 999. */
export function cniErrorFrom(err: unknown): CniError {
  if (isCniError(err)) return err;
  if (typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string') {
    const code = (err as { code: string }).code as ErrorCode;
    const mapped = fromTortieCode[code];
    if (mapped !== undefined && hasErrorCode(err, code)) {
      const details = (err as { details?: unknown }).details;
      return new CniError(mapped, (err as Error).message, {
        cause: err,
        details: details === undefined ? code : `${code} ${JSON.stringify(details)}`,
      });
    }
  }
  const message = err instanceof Error ? err.message : String(err);
  return new CniError(CniErrorCodes.Internal, message, { cause: err });
}

/** The object main.ts prints on stdout for a failed command. */
export function toCniErrorJson(err: unknown, cniVersion: string): CniErrorJson {
  const e = cniErrorFrom(err);
  return { cniVersion, code: e.code, msg: e.message, ...(e.details === undefined ? {} : { details: e.details }) };
}
