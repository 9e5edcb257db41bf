/**
 * Packet mark bits the ruleset uses to carry a verdict out of a jumped-to
 * chain (nft has no other way for a chain to tell its caller why it
 * returned). They lie in Calico's default mark mask (0xffff0000), which
 * tortie replaces, away from kube-proxy's 0x4000 / 0x8000. Both are cleared
 * before use and after, so nothing outside a chain walk ever sees them.
 * (To move into lib/contract.ts with the other external names.)
 */
/** An egress policy allowed the packet: the endpoint chain returns to the base chain. */
export const MARK_ALLOW = 0x00010000;
/** A policy passed: the rest of the stage is skipped. */
export const MARK_PASS = 0x00020000;
