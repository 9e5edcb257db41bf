/**
 * BGP codec throughput: IPv4 /26–/32 prefixes per second through
 * splitUpdate + encodeMessage, and through MessageFramer + decodeMessage.
 * Pure CPU, no peer: `npx tsx bench/bgp-codec.ts [prefixes]`.
 * The convergence comparison with BIRD needs the session layer (issue 4).
 */
import { performance } from 'node:perf_hooks';
import { codecContext } from '../bgp-speaker/src/codec/context.js';
import { MessageFramer } from '../bgp-speaker/src/codec/framer.js';
import { decodeMessage, encodeMessage } from '../bgp-speaker/src/codec/message.js';
import { splitUpdate } from '../bgp-speaker/src/codec/split-update.js';
import type { Update } from '../bgp-speaker/src/codec/update.js';

const PREFIXES = Number(process.argv[2] ?? 200_000);
const ROUNDS = 5;
const ctx = codecContext({ hasFourOctetAs: true });

// Deterministic pseudo-random prefixes (xorshift), unique, lengths /26–/32.
let seed = 0x12345678;
const rand = (): number => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
};
const seen = new Set<string>();
while (seen.size < PREFIXES) {
  const length = 26 + (rand() % 7);
  const addr = (((10 << 24) | (rand() & 0x00ffffff)) >>> (32 - length)) << (32 - length);
  const a = addr >>> 0;
  seen.add(`${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/${length}`);
}
const nlri = [...seen];
const update: Update = {
  withdrawn: [],
  nlri,
  attributes: {
    origin: 'IGP',
    asPath: [{ type: 'AS_SEQUENCE', asns: [65001, 65002, 4200000000] }],
    nextHop: '192.0.2.1',
    multiExitDisc: 0,
    localPref: 100,
    communities: [65001 * 65536 + 100],
    largeCommunities: [{ globalAdministrator: 65001, localData1: 1, localData2: 2 }],
  },
};

function encodeAll(): Uint8Array[] {
  return splitUpdate(update, ctx).map((u) => encodeMessage({ type: 'UPDATE', update: u }, ctx));
}

function decodeAll(messages: readonly Uint8Array[]): number {
  let n = 0;
  for (const m of messages) {
    const d = decodeMessage(m, ctx);
    if (d.ok && d.message.type === 'UPDATE') n += d.message.update.nlri.length;
  }
  return n;
}

function frameAndDecode(stream: Uint8Array, chunkSize: number): number {
  const framer = new MessageFramer();
  let n = 0;
  for (let off = 0; off < stream.length; off += chunkSize) {
    for (const f of framer.push(stream.subarray(off, off + chunkSize)).frames) {
      const d = decodeMessage(f, ctx);
      if (d.ok && d.message.type === 'UPDATE') n += d.message.update.nlri.length;
    }
  }
  return n;
}

function best(label: string, f: () => number): number {
  const rates: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    const n = f();
    const ms = performance.now() - t0;
    if (n !== PREFIXES) throw new Error(`${label}: ${n} prefixes, expected ${PREFIXES}`);
    rates.push(n / (ms / 1000));
  }
  rates.sort((a, b) => b - a);
  return rates[Math.floor(rates.length / 2)] as number; // median
}

encodeAll(); // warm-up
const messages = encodeAll();
const stream = new Uint8Array(messages.reduce((n, m) => n + m.length, 0));
let at = 0;
for (const m of messages) {
  stream.set(m, at);
  at += m.length;
}
const encodeRate = best('encode', () => encodeAll().reduce((n, m) => n + (m.length > 0 ? 1 : 0), 0) && PREFIXES);
const decodeRate = best('decode', () => decodeAll(messages));
const framedRate = best('frame+decode', () => frameAndDecode(stream, 64 * 1024));

const fmt = (r: number): string => `${(r / 1e6).toFixed(2)} M prefixes/s`;
console.log(`prefixes: ${PREFIXES} IPv4 /26–/32 in ${messages.length} UPDATEs of ≤4096 bytes (${(stream.length / 1024).toFixed(0)} KiB), median of ${ROUNDS}`);
console.log(`encode (splitUpdate + encodeMessage): ${fmt(encodeRate)}`);
console.log(`decode (decodeMessage per UPDATE):    ${fmt(decodeRate)}`);
console.log(`frame + decode (64 KiB chunks):       ${fmt(framedRate)}`);
console.log(`node ${process.version}`);
