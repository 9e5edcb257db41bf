/**
 * What the two speakers negotiated, which changes how bytes are read and
 * written (GoBGP's MarshallingOption, BIRD's bgp_parse_state flags). Built by
 * the session from both OPENs; the OPEN exchange itself uses DEFAULT_CONTEXT.
 */
export interface CodecContext {
  /** Both sides sent the 4-octet AS capability (RFC 6793): AS_PATH and AGGREGATOR carry 4-byte ASNs. */
  readonly hasFourOctetAs: boolean;
  /** Both sides sent the Extended Message capability (RFC 8654): messages up to 65535 bytes. */
  readonly hasExtendedMessage: boolean;
  /** ADD-PATH (RFC 7911) is not supported: always false, here so the shape is ready for it. */
  readonly hasAddPath: false;
  /**
   * True for an eBGP peer, false for iBGP, undefined when unknown. RFC 7606
   * discards LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST from external peers.
   */
  readonly isExternalPeer?: boolean | undefined;
}

export const DEFAULT_CONTEXT: CodecContext = Object.freeze({
  hasFourOctetAs: false,
  hasExtendedMessage: false,
  hasAddPath: false,
});

export function codecContext(facts: Partial<Omit<CodecContext, 'hasAddPath'>> = {}): CodecContext {
  return Object.freeze({ ...DEFAULT_CONTEXT, ...facts, hasAddPath: false });
}
