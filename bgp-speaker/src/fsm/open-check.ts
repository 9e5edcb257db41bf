/**
 * The checks on a peer's OPEN that need our configuration (RFC 4271 §6.2,
 * RFC 6286); syntax was already checked by the codec.
 */
import { BgpMessageError } from '../codec/errors.js';
import { ErrorCode, OpenMessageErrorSubcode } from '../codec/notification.js';
import { openAsn, type Open } from '../codec/open.js';
import type { SessionConfig } from './state.js';

export function checkOpen(open: Open, config: SessionConfig): BgpMessageError | null {
  const asn = openAsn(open);
  if (asn !== config.peerAsn) {
    return new BgpMessageError(ErrorCode.OpenMessageError, OpenMessageErrorSubcode.BadPeerAs, undefined, `peer AS ${asn}, expected ${config.peerAsn}`);
  }
  // RFC 6286 §2.2: inside one AS the identifiers must differ.
  if (asn === config.localAsn && open.bgpIdentifier === config.bgpIdentifier) {
    return new BgpMessageError(ErrorCode.OpenMessageError, OpenMessageErrorSubcode.BadBgpIdentifier, undefined, `peer uses our identifier ${open.bgpIdentifier}`);
  }
  return null;
}
