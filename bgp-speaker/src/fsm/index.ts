/** The FSM's public surface. */
export * from './collision.js';
export * from './event.js';
export * from './open-check.js';
export * from './state.js';
export * from './step.js';
export * from './timers.js';
