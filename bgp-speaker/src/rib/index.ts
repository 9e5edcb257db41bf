/** The RIB's public surface: import from here, not from the files. */
export { ACCEPT_ALL, AdjRibIn, type ImportPolicy, type RibInResult } from './adj-rib-in.js';
export {
  AdjRibOut,
  exportPath,
  isEmptyAdvertisements,
  packUpdates,
  planUpdates,
  prependAs,
  type Advertisements,
  type AnnouncementGroup,
  type ExportCache,
  type ExportPolicy,
  type OutPeer,
  type OutRoute,
  type SpeakerIdentity,
} from './adj-rib-out.js';
export { asPathLength, neighbourAs, selectBest } from './best-path.js';
export { LocRib, localSource, mergeChanges, NO_CHANGES, peerSource, type LocRibChange, type LocRibChanges, type SourceKey } from './loc-rib.js';
export { detectLoop, type LoopIdentity, type LoopReason } from './loop.js';
export { attributesKey, DEFAULT_LOCAL_PREF, isSamePath, pathAttributesOf, prefixAfi, type Path, type PeerRef } from './path.js';
