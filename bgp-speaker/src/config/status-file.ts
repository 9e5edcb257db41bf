/**
 * The speaker's status file: written by bgp-speaker/src/main.ts every second,
 * read by `tortie node status`. One JSON object; the writer replaces it
 * atomically (write + rename) and removes it on a clean exit.
 */
import type { PeerType } from './peers.js';

export const DEFAULT_STATUS_FILE = '/var/run/tortie/bgp-status.json';

export interface PeerStatus {
  readonly peerAddress: string;
  readonly peerPort: number;
  readonly name: string;
  readonly type: PeerType;
  readonly peerAsn: number;
  /** RFC 4271 FSM state: Idle, Connect, Active, OpenSent, OpenConfirm, Established. */
  readonly state: string;
  /** When the session entered its state (ISO 8601). */
  readonly since: string;
  /** The NOTIFICATION or TCP error that last took the session down. */
  readonly lastError: string | null;
  readonly prefixesReceived: number;
  readonly prefixesSent: number;
  /** A password is configured but not applied (TCP-MD5 is not available). */
  readonly hasUnappliedPassword: boolean;
}

/** A tunnel device the pools want (program/tunnel-table.ts). */
export interface TunnelDeviceStatus {
  readonly name: string;
  /** `ready`: programmed as planned; `pending`: not applied yet; `not-ready`: cannot be (see `error`). */
  readonly state: 'ready' | 'pending' | 'not-ready';
  /** The IPPools that want it. */
  readonly pools: readonly string[];
  readonly error: string | null;
}

export interface SpeakerStatusFile {
  readonly node: string;
  readonly pid: number;
  readonly updatedAt: string;
  readonly localAsn: number | null;
  readonly routerId: string | null;
  readonly peers: readonly PeerStatus[];
  /** Absent in files written before tunnel devices existed. */
  readonly tunnels?: readonly TunnelDeviceStatus[];
}
