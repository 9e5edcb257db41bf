// The example in bgp-speaker/README.md, compiled and run so it cannot go stale.
import { expect, it } from 'vitest';
import { codecContext, decodeMessage, encodeMessage, MessageFramer } from './codec/index.js';
import { eventForMessage, initialState, sessionConfig, step } from './fsm/index.js';

it('README example: bytes in, FSM events and actions out', () => {
  // --- README example start
  const ctx = codecContext({ hasFourOctetAs: true });
  const framer = new MessageFramer(ctx);
  let state = initialState(sessionConfig({ localAsn: 65001, peerAsn: 65002, bgpIdentifier: '192.0.2.1' }));

  state = step(state, { type: 'ManualStart' }).state; // → Connect, actions: start ConnectRetryTimer, connect
  const opened = step(state, { type: 'TcpCRAcked' }); // → OpenSent, actions: send our OPEN, start HoldTimer
  state = opened.state;

  // Bytes from the socket, in whatever pieces they arrive:
  const peerOpen = encodeMessage({ type: 'OPEN', open: { version: 4, myAutonomousSystem: 65002, holdTimeSec: 30, bgpIdentifier: '192.0.2.2', capabilities: [] } }, ctx);
  const { frames, error } = framer.push(peerOpen);
  if (error !== null) throw error; // the driver would send error.notification and close
  for (const frame of frames) {
    const result = step(state, eventForMessage(decodeMessage(frame, ctx)));
    state = result.state; // OpenConfirm: hold time 30 s, keepalive 10 s
    // result.actions: stop ConnectRetryTimer, send KEEPALIVE, start KeepaliveTimer 10 s, start HoldTimer 30 s
  }
  // --- README example end
  expect(state.name).toBe('OpenConfirm');
  expect([state.holdTimeSec, state.keepaliveTimeSec]).toEqual([30, 10]);
  expect(opened.actions.map((a) => a.type)).toEqual(['stop-timer', 'send', 'start-timer', 'state-changed']);
});

it('README shows exactly this example', async () => {
  const { readFileSync } = await import('node:fs');
  const src = readFileSync(new URL('./readme-example.test.ts', import.meta.url), 'utf8');
  const block = src.slice(src.indexOf('// --- README example start\n') + 28, src.indexOf('  // --- README example end')).trimEnd();
  const dedented = block
    .split('\n')
    .map((l) => (l.startsWith('  ') ? l.slice(2) : l))
    .join('\n');
  expect(readFileSync(new URL('../README.md', import.meta.url), 'utf8')).toContain(dedented);
});
