/**
 * FSM states and the session's variables (RFC 4271 §8, §8.2.1). A state is a
 * plain frozen value: `step` returns a new one.
 */
import type { Capability } from '../codec/capabilities.js';
import type { Open } from '../codec/open.js';
import { TIMER_DEFAULTS } from './timers.js';

export type FsmStateName = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';

/** What the session was configured with (the RFC's "optional session attributes" we support). */
export interface SessionConfig {
  readonly localAsn: number;
  /** Dotted quad. */
  readonly bgpIdentifier: string;
  /** The AS the peer must announce; a different one gets OPEN Message Error / Bad Peer AS. */
  readonly peerAsn: number;
  /** Proposed in our OPEN; the negotiated one is the smaller of both. */
  readonly holdTimeSec: number;
  readonly connectRetryTimeSec: number;
  /** PassiveTcpEstablishment: wait for the peer to connect instead of connecting. */
  readonly isPassive: boolean;
  /** Capabilities for our OPEN; the 4-octet AS capability is added if missing. */
  readonly capabilities: readonly Capability[];
  /** First IdleHold back-off after a failure, doubled per failure up to `maxIdleHoldTimeSec`. */
  readonly idleHoldTimeSec: number;
  readonly maxIdleHoldTimeSec: number;
}

export interface FsmState {
  readonly name: FsmStateName;
  readonly config: SessionConfig;
  /** RFC 4271 §8: failures since the last manual start or stop. */
  readonly connectRetryCounter: number;
  /** Negotiated in OpenSent; before that, what we propose. 0 = no hold timer. */
  readonly holdTimeSec: number;
  readonly keepaliveTimeSec: number;
  /** The delay before the next automatic restart, grown by each failure, reset on Established. */
  readonly idleHoldTimeSec: number;
  /** True after ManualStop (and initially): no automatic restart until a start event. */
  readonly isStopped: boolean;
  /** The peer's OPEN once received. */
  readonly peerOpen: Open | null;
}

export function sessionConfig(c: Pick<SessionConfig, 'localAsn' | 'bgpIdentifier' | 'peerAsn'> & Partial<SessionConfig>): SessionConfig {
  return Object.freeze({
    holdTimeSec: TIMER_DEFAULTS.holdTimeSec,
    connectRetryTimeSec: TIMER_DEFAULTS.connectRetryTimeSec,
    isPassive: false,
    capabilities: [],
    idleHoldTimeSec: TIMER_DEFAULTS.idleHoldTimeSec,
    maxIdleHoldTimeSec: TIMER_DEFAULTS.maxIdleHoldTimeSec,
    ...c,
  });
}

/** A session that has not been started: Idle, stopped, counters at zero. */
export function initialState(config: SessionConfig): FsmState {
  return Object.freeze({
    name: 'Idle',
    config,
    connectRetryCounter: 0,
    holdTimeSec: config.holdTimeSec,
    keepaliveTimeSec: 0,
    idleHoldTimeSec: config.idleHoldTimeSec,
    isStopped: true,
    peerOpen: null,
  });
}
