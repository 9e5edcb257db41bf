/**
 * A scripted BGP peer for failure tests: connects to the speaker, sends an
 * OPEN (2-octet AS, no 4-octet capability unless `fourOctetAs`, so the
 * codec's 2-octet fixtures mean what they say), answers the OPEN with a
 * KEEPALIVE, and once Established writes each hex message of `send` as is,
 * `gapMs` apart (default 200), whatever it contains. Prints JSON lines:
 * {"type":"established"}, {"type":"sent","index"}, {"type":"received","message",
 * "code"?,"subcode"?,"notification"?}, {"type":"closed"}. Exits when the
 * connection closes; keepalives every 3 s keep the session up meanwhile.
 *
 * Run: node --import tsx bgp-speaker/test-fixtures/scripted-peer.ts '<json options>'
 * Options: localAddress, peerAddress, asn, routerId, fourOctetAs, send (hex strings), gapMs.
 */
import { Socket } from 'node:net';
import { codecContext, decodeMessage, describeNotification, encodeMessage, MessageFramer, type Capability } from '../src/codec/index.js';

interface Options {
  localAddress: string;
  peerAddress: string;
  asn: number;
  routerId?: string;
  fourOctetAs?: boolean;
  send: string[];
  gapMs?: number;
}

const opts = JSON.parse(process.argv[2] ?? '{}') as Options;
const print = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
const isFourOctet = opts.fourOctetAs === true;
const ctx = codecContext({ hasFourOctetAs: isFourOctet });
const framer = new MessageFramer(ctx);
const socket = new Socket();
let isUp = false;
const capabilities: Capability[] = [{ type: 'multiprotocol', afi: 1, safi: 1 }, ...(isFourOctet ? [{ type: 'four-octet-as' as const, asn: opts.asn }] : [])];

socket.connect({ host: opts.peerAddress, port: 179, localAddress: opts.localAddress }, () => {
  print({ type: 'connected' });
  socket.write(encodeMessage({ type: 'OPEN', open: { version: 4, myAutonomousSystem: opts.asn, holdTimeSec: 9, bgpIdentifier: opts.routerId ?? opts.localAddress, capabilities } }, ctx));
});
const keepalive = setInterval(() => {
  if (isUp && !socket.destroyed) socket.write(encodeMessage({ type: 'KEEPALIVE' }, ctx));
}, 3_000);
socket.on('data', (chunk: Buffer) => {
  const { frames, error } = framer.push(new Uint8Array(chunk));
  if (error !== null) print({ type: 'framer-error', message: error.message });
  for (const frame of frames) {
    const d = decodeMessage(frame, ctx);
    if (!d.ok) {
      print({ type: 'decode-error', message: d.error.message });
      continue;
    }
    const m = d.message;
    print({ type: 'received', message: m.type, ...(m.type === 'NOTIFICATION' ? { notification: describeNotification(m.notification), code: m.notification.errorCode, subcode: m.notification.errorSubcode } : {}) });
    if (m.type === 'OPEN') socket.write(encodeMessage({ type: 'KEEPALIVE' }, ctx));
    if (m.type === 'KEEPALIVE' && !isUp) {
      isUp = true;
      print({ type: 'established' });
      void sendAll();
    }
  }
});
socket.on('error', (err) => print({ type: 'socket-error', message: err.message }));
socket.on('close', () => {
  clearInterval(keepalive);
  print({ type: 'closed' });
  process.exit(0);
});
process.on('SIGTERM', () => {
  socket.destroy();
});

async function sendAll(): Promise<void> {
  for (const [index, hex] of opts.send.entries()) {
    if (socket.destroyed) return;
    socket.write(Buffer.from(hex, 'hex'));
    print({ type: 'sent', index });
    await new Promise((r) => setTimeout(r, opts.gapMs ?? 200));
  }
  print({ type: 'all-sent' });
}
