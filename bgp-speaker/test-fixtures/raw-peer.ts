/**
 * A hand-driven BGP peer for failure tests: connects, exchanges OPEN and
 * KEEPALIVE like a well-behaved speaker, then sends the given raw messages
 * (hex, one every `gapMs`) whatever they contain, and prints each message it
 * receives as a JSON line ({"type":"received",...}; {"type":"closed"} at the
 * end). Exits when the connection closes.
 *
 * Run: node --import tsx bgp-speaker/test-fixtures/raw-peer.ts '<json options>'
 * Options: localAddress, peerAddress, asn, routerId, send (hex strings), gapMs.
 */
import { Socket } from 'node:net';
import { buildOpen, codecContext, decodeMessage, describeNotification, encodeMessage, MessageFramer } from '../src/codec/index.js';

interface Options {
  localAddress: string;
  peerAddress: string;
  asn: number;
  routerId?: string;
  send: string[];
  gapMs?: number;
}

const opts = JSON.parse(process.argv[2] ?? '{}') as Options;
const print = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
const ctx = codecContext({ hasFourOctetAs: true });
const framer = new MessageFramer();
const socket = new Socket();
let isUp = false;

socket.connect({ host: opts.peerAddress, port: 179, localAddress: opts.localAddress }, () => {
  print({ type: 'connected' });
  socket.write(encodeMessage({ type: 'OPEN', open: buildOpen({ asn: opts.asn, holdTimeSec: 90, bgpIdentifier: opts.routerId ?? opts.localAddress, capabilities: [{ type: 'multiprotocol', afi: 1, safi: 1 }] }) }, ctx));
});
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
  print({ type: 'closed' });
  process.exit(0);
});

async function sendAll(): Promise<void> {
  for (const hex of opts.send) {
    await new Promise((r) => setTimeout(r, opts.gapMs ?? 300));
    if (socket.destroyed) return;
    socket.write(Buffer.from(hex, 'hex'));
    print({ type: 'sent', bytes: hex.length / 2 });
  }
}
