/** The session layer's public surface: import from here. */
export * from './clock.js';
export * from './driver.js';
export * from './memory.js';
export * from './negotiate.js';
export * from './socket.js';
