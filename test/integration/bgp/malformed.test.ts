/**
 * A hostile peer over real TCP between namespaces: a scripted peer process
 * (bgp-speaker/test-fixtures/scripted-peer.ts) in the "tor" namespace sends our
 * speaker process (in the "node" namespace, passive) malformed messages.
 * RFC 7606 treat-as-withdraw keeps the session; a malformed NLRI resets it
 * with UPDATE Message Error; a garbage stream gets Message Header Error /
 * Connection Not Synchronized. The speaker process never dies and takes the
 * next well-behaved connection.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { codecContext, encodeMessage, ErrorCode, MessageHeaderErrorSubcode, UpdateMessageErrorSubcode, type Update } from '../../../bgp-speaker/src/codec/index.js';
import type { NetnsRef } from '../../../lib/kernel/netns.js';
import { createNetnsHarness, kernelAccessProblem, pollUntil, type NetnsHarness } from '../../harness/netns.js';
import { collectJsonLines, makeTorAndNode, NODE, POD_BLOCK, startSpeaker, TOR, type JsonLinesChild, type SpeakerProcess } from './topology.js';

const problem = await kernelAccessProblem();
if (problem !== null) console.warn(`skipping test/integration/bgp/malformed.test.ts: ${problem}`);

const SCRIPTED_PEER = fileURLToPath(new URL('../../../bgp-speaker/test-fixtures/scripted-peer.ts', import.meta.url));
const TOR_ASN = 65000;
const NODE_ASN = 64512;
const ctx = codecContext({ hasFourOctetAs: true });
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function update(prefix: string): Uint8Array {
  const u: Update = { withdrawn: [], nlri: [prefix], attributes: { origin: 'IGP', asPath: [{ type: 'AS_SEQUENCE', asns: [TOR_ASN] }], nextHop: TOR } };
  return encodeMessage({ type: 'UPDATE', update: u }, ctx);
}

/** The same UPDATE with ORIGIN = 5, which RFC 7606 §7.1 answers with treat-as-withdraw. */
function badOrigin(prefix: string): Uint8Array {
  const bytes = update(prefix).slice();
  for (let i = 23; i + 3 < bytes.length; i++) {
    if (bytes[i] === 0x40 && bytes[i + 1] === 0x01 && bytes[i + 2] === 0x01) {
      bytes[i + 3] = 5;
      return bytes;
    }
  }
  throw new Error('no ORIGIN attribute found');
}

/** An UPDATE announcing a /33: an invalid NLRI field, session reset (RFC 7606 §5.3). */
const BAD_NLRI = Uint8Array.from([...new Array<number>(16).fill(0xff), 0, 29, 2, 0, 0, 0, 0, 33, 10, 0, 0, 0, 0]);
/** A header whose marker is not all ones. */
const GARBAGE = new Uint8Array(40).fill(0x5a);

function startScriptedPeer(h: NetnsHarness, ns: NetnsRef, send: Uint8Array[]): JsonLinesChild {
  return collectJsonLines(
    h.spawnIn(ns, process.execPath, ['--import', 'tsx', SCRIPTED_PEER, JSON.stringify({ localAddress: TOR, peerAddress: NODE, asn: TOR_ASN, fourOctetAs: true, send: send.map(hex), gapMs: 300 })]),
  );
}

describe.skipIf(problem !== null)('a hostile peer over TCP', () => {
  let h: NetnsHarness | null = null;
  let speaker: SpeakerProcess | null = null;

  afterEach(async () => {
    await speaker?.stop();
    await h?.cleanup();
    speaker = h = null;
  });

  it('gets the RFC 7606 treatment, and the speaker process carries on', async () => {
    h = createNetnsHarness();
    const { tor, node } = await makeTorAndNode(h);
    const s = startSpeaker(h, node, { localAddress: NODE, localAsn: NODE_ASN, peerAddress: TOR, peerAsn: TOR_ASN, announce: [POD_BLOCK], listen: true, passive: true });
    speaker = s;
    const context = (peer?: JsonLinesChild) => `\n--- speaker ---\n${s.output()}${peer ? `\n--- scripted peer ---\n${peer.output()}` : ''}`;
    await pollUntil('speaker listening', async () => s.events.some((e) => e.type === 'listening'), { timeoutMs: 15_000 });

    // 1. A good route, a treat-as-withdraw one, then a session-resetting NLRI.
    const first = startScriptedPeer(h, tor, [update('10.98.0.0/24'), badOrigin('10.99.0.0/24'), BAD_NLRI]);
    try {
      await pollUntil('the raw peer disconnected', async () => first.events.some((e) => e.type === 'closed'), { timeoutMs: 20_000, intervalMs: 100 });
    } catch (err) {
      throw new Error(`${(err as Error).message}${context(first)}`);
    }
    expect(s.events.find((e) => e.type === 'route' && e.prefix === '10.98.0.0/24')).toBeDefined();
    expect(s.events.find((e) => e.type === 'route' && e.prefix === '10.99.0.0/24')).toBeUndefined();
    expect(s.events.find((e) => e.type === 'update-error')).toMatchObject({ action: 'treat-as-withdraw' });
    expect(s.events.find((e) => e.type === 'withdraw' && e.prefix === '10.99.0.0/24')).toBeDefined();
    const notification = first.events.find((e) => e.type === 'received' && e.message === 'NOTIFICATION');
    expect(notification).toMatchObject({ code: ErrorCode.UpdateMessageError, subcode: UpdateMessageErrorSubcode.InvalidNetworkField });
    // OPEN, KEEPALIVE, our pod block and End-of-RIB, then the NOTIFICATION last.
    expect(first.events.filter((e) => e.type === 'received').map((e) => e.message)).toEqual(['OPEN', 'KEEPALIVE', 'UPDATE', 'UPDATE', 'NOTIFICATION']);
    const down = s.events.find((e) => e.type === 'state' && e.from === 'Established' && e.to === 'Idle');
    expect(down).toMatchObject({ reason: 'UpdateMsgErr', notification: 'sent UpdateMessageError/InvalidNetworkField' });

    // 2. A byte stream that is not BGP at all.
    await pollUntil('speaker back in Active', async () => s.events.filter((e) => e.type === 'state' && e.to === 'Active').length >= 2, { timeoutMs: 15_000 });
    const second = startScriptedPeer(h, tor, [GARBAGE]);
    await pollUntil('the garbage peer disconnected', async () => second.events.some((e) => e.type === 'closed'), { timeoutMs: 20_000, intervalMs: 100 }).catch((err: Error) => {
      throw new Error(`${err.message}${context(second)}`);
    });
    expect(second.events.find((e) => e.type === 'received' && e.message === 'NOTIFICATION')).toMatchObject({
      code: ErrorCode.MessageHeaderError,
      subcode: MessageHeaderErrorSubcode.ConnectionNotSynchronized,
    });

    // 3. The speaker process is alive and takes a well-behaved peer.
    expect(s.child.exitCode).toBeNull();
    await pollUntil('speaker back in Active', async () => s.events.filter((e) => e.type === 'state' && e.to === 'Active').length >= 3, { timeoutMs: 15_000 });
    const third = startScriptedPeer(h, tor, [update('10.97.0.0/24')]);
    await pollUntil('the good route from a well-behaved peer', async () => s.events.some((e) => e.type === 'route' && e.prefix === '10.97.0.0/24'), { timeoutMs: 20_000 }).catch((err: Error) => {
      throw new Error(`${err.message}${context(third)}`);
    });
    expect(third.events.some((e) => e.type === 'received' && e.message === 'UPDATE')).toBe(true); // our pod block
    expect(s.events.filter((e) => e.type === 'handler-error')).toEqual([]);
  });
});
