/** The codec's public surface: import from here, not from the files. */
export * from './address.js';
export * from './attributes/as-path.js';
export { AttrCode, AttrFlag, type AsPathSegment, type AsPathSegmentType, type Aggregator, type ErrorActionKind, type LargeCommunity, type MpReachNlri, type MpUnreachNlri, type Origin, type PathAttributes, type UnknownAttribute } from './attributes/descriptor.js';
export { ATTRIBUTES, attributeDescriptor, attributeName } from './attributes/table.js';
export * from './capabilities.js';
export * from './context.js';
export * from './errors.js';
export * from './framer.js';
export { HEADER_LENGTH, MAX_EXTENDED_MESSAGE_LENGTH, MAX_MESSAGE_LENGTH, MessageType, decodeHeader, type Header, type MessageTypeCode } from './header.js';
export * from './keepalive.js';
export * from './message.js';
export * from './notification.js';
export { BGP_VERSION, buildOpen, openAsn, type Open } from './open.js';
export * from './route-refresh.js';
export { encodePathAttributes, endOfRib, endOfRibFamily, type DecodedUpdate, type Update, type UpdateError, type UpdateErrorAction } from './update.js';
export { splitUpdate } from './split-update.js';
