/**
 * OPEN (RFC 4271 §4.2) with capabilities in optional parameters (RFC 5492).
 * Syntax is checked here (§6.2); what depends on configuration (expected peer
 * AS, acceptable hold time policy) is checked by the FSM's `checkOpen`.
 */
import { formatIPv4, parseIPv4 } from './address.js';
import { decodeCapability, encodeCapability, CapabilityError, findFourOctetAs, type Capability } from './capabilities.js';
import { BgpMessageError, type Decoded } from './errors.js';
import { ErrorCode, OpenMessageErrorSubcode } from './notification.js';
import { AS_TRANS } from './attributes/as-path.js';
import { ByteReader, ReadOverrun } from './reader.js';
import { ByteWriter } from './writer.js';

export const BGP_VERSION = 4;
const OPT_PARAM_CAPABILITIES = 2;

export interface Open {
  readonly version: number;
  /** The 2-octet "My Autonomous System" field; AS_TRANS when the real ASN needs 4 octets. */
  readonly myAutonomousSystem: number;
  readonly holdTimeSec: number;
  /** Dotted-quad text. */
  readonly bgpIdentifier: string;
  readonly capabilities: readonly Capability[];
}

/** The peer's ASN: the 4-octet AS capability if present, else the 2-octet field. */
export function openAsn(open: Open): number {
  return findFourOctetAs(open.capabilities) ?? open.myAutonomousSystem;
}

/**
 * An OPEN for our side: fills My Autonomous System with AS_TRANS when needed
 * and adds the 4-octet AS capability if `capabilities` lacks it.
 */
export function buildOpen(opts: { asn: number; holdTimeSec: number; bgpIdentifier: string; capabilities: readonly Capability[] }): Open {
  const caps = findFourOctetAs(opts.capabilities) === null ? [...opts.capabilities, { type: 'four-octet-as' as const, asn: opts.asn }] : [...opts.capabilities];
  return {
    version: BGP_VERSION,
    myAutonomousSystem: opts.asn > 0xffff ? AS_TRANS : opts.asn,
    holdTimeSec: opts.holdTimeSec,
    bgpIdentifier: opts.bgpIdentifier,
    capabilities: caps,
  };
}

export function encodeOpenBody(open: Open): Uint8Array {
  const w = new ByteWriter(64);
  w.u8(open.version).u16(open.myAutonomousSystem).u16(open.holdTimeSec);
  const id = parseIPv4(open.bgpIdentifier);
  if (id === null) throw new TypeError(`BGP identifier is not dotted-quad: ${JSON.stringify(open.bgpIdentifier)}`);
  w.bytes(id);
  const optLenAt = w.reserveU8();
  const optStart = w.length;
  // One optional parameter per capability keeps every parameter under 255 bytes
  // and is what BIRD, FRR and GoBGP all accept.
  for (const cap of open.capabilities) {
    w.u8(OPT_PARAM_CAPABILITIES);
    const lenAt = w.reserveU8();
    const start = w.length;
    encodeCapability(w, cap);
    w.patchU8(lenAt, w.length - start);
  }
  const optLen = w.length - optStart;
  if (optLen > 255) throw new RangeError(`optional parameters of ${optLen} bytes exceed 255 (RFC 9072 extended length is not implemented)`);
  w.patchU8(optLenAt, optLen);
  return w.finish();
}

function openError(subcode: number, reason: string, data?: Uint8Array): { ok: false; error: BgpMessageError } {
  return { ok: false, error: new BgpMessageError(ErrorCode.OpenMessageError, subcode, data, reason) };
}

/** Decodes and syntax-checks an OPEN body (RFC 4271 §6.2, RFC 5492). Never throws. */
export function decodeOpenBody(body: Uint8Array): Decoded<Open> {
  try {
    const r = new ByteReader(body);
    const version = r.u8();
    if (version !== BGP_VERSION) {
      // §6.2: the data is the largest locally supported version number, as 2 octets.
      return openError(OpenMessageErrorSubcode.UnsupportedVersionNumber, `version ${version}`, Uint8Array.of(0, BGP_VERSION));
    }
    const myAutonomousSystem = r.u16();
    const holdTimeSec = r.u16();
    if (holdTimeSec === 1 || holdTimeSec === 2) {
      return openError(OpenMessageErrorSubcode.UnacceptableHoldTime, `hold time ${holdTimeSec}`);
    }
    const idBytes = r.bytes(4);
    const bgpIdentifier = formatIPv4(idBytes);
    if (bgpIdentifier === '0.0.0.0') {
      // RFC 6286 §2.2: the identifier is a non-zero 32-bit value.
      return openError(OpenMessageErrorSubcode.BadBgpIdentifier, 'BGP identifier is 0');
    }
    const optLen = r.u8();
    if (optLen !== r.remaining) {
      return openError(OpenMessageErrorSubcode.Unspecific, `optional parameters length ${optLen}, ${r.remaining} bytes follow`);
    }
    const capabilities: Capability[] = [];
    while (!r.isAtEnd) {
      const paramType = r.u8();
      const paramLen = r.u8();
      const param = r.sub(paramLen);
      if (paramType !== OPT_PARAM_CAPABILITIES) {
        return openError(OpenMessageErrorSubcode.UnsupportedOptionalParameter, `optional parameter type ${paramType}`);
      }
      while (!param.isAtEnd) {
        const code = param.u8();
        const len = param.u8();
        capabilities.push(decodeCapability(code, param.bytes(len)));
      }
    }
    return { ok: true, value: { version, myAutonomousSystem, holdTimeSec, bgpIdentifier, capabilities } };
  } catch (err) {
    if (err instanceof ReadOverrun || err instanceof CapabilityError) {
      // §6.2: a recognised optional parameter that is malformed → Unspecific.
      return openError(OpenMessageErrorSubcode.Unspecific, err.message);
    }
    throw err;
  }
}
