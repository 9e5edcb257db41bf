/**
 * Shared by the interop tests: a "tor" and a "node" namespace joined by a
 * veth (10.251.0.1/30 and 10.251.0.2/30), and our speaker process
 * (bgp-speaker/test-fixtures/speaker.ts) started inside the node namespace.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { NetnsRef } from '../../../lib/kernel/netns.js';
import { uniqueName, type NetnsHarness } from '../../harness/netns.js';

export const SPEAKER = fileURLToPath(new URL('../../../bgp-speaker/test-fixtures/speaker.ts', import.meta.url));
export const TOR = '10.251.0.1';
export const NODE = '10.251.0.2';
export const POD_BLOCK = '10.244.1.0/26';
export const TOR_ROUTE = '10.96.0.0/24';

export type SpeakerEvent = { type: string } & Record<string, unknown>;

/** A child that prints JSON lines (our speaker fixture, the scripted peer), its events collected as they come. */
export interface JsonLinesChild {
  readonly child: ChildProcess;
  readonly events: SpeakerEvent[];
  /** Everything it wrote, stdout and stderr, for failure messages. */
  output(): string;
  readonly exited: Promise<void>;
}

export function collectJsonLines(child: ChildProcess): JsonLinesChild {
  const events: SpeakerEvent[] = [];
  let text = '';
  let partial = '';
  child.stdout?.on('data', (b: Buffer) => {
    text += b.toString();
    partial += b.toString();
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim() !== '') events.push(JSON.parse(line) as SpeakerEvent);
  });
  child.stderr?.on('data', (b: Buffer) => (text += b.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, events, output: () => text, exited };
}

export interface SpeakerProcess extends JsonLinesChild {
  /** SIGTERM (Cease, then exit), waiting up to 5 s for the exit. */
  stop(): Promise<void>;
}

export function startSpeaker(h: NetnsHarness, ns: NetnsRef, options: Record<string, unknown>): SpeakerProcess {
  const collected = collectJsonLines(h.spawnIn(ns, process.execPath, ['--import', 'tsx', SPEAKER, JSON.stringify(options)]));
  const { child, exited } = collected;
  return {
    ...collected,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      process.kill(child.pid, 'SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    },
  };
}

/** Two fresh namespaces and the veth between them, addressed and up. Removed by `h.cleanup()`. */
export async function makeTorAndNode(h: NetnsHarness): Promise<{ tor: NetnsRef; node: NetnsRef }> {
  const tor = await h.makeNetns('tor');
  const node = await h.makeNetns('node');
  const vTor = uniqueName('t', 6);
  const vNode = uniqueName('n', 6);
  await h.makeVeth(vTor, vNode, { aNs: tor, bNs: node });
  await h.hostIp.inNetns(tor).batch(['link set lo up', `addr add ${TOR}/30 dev ${vTor}`, `link set ${vTor} up`]);
  await h.hostIp.inNetns(node).batch(['link set lo up', `addr add ${NODE}/30 dev ${vNode}`, `link set ${vNode} up`]);
  return { tor, node };
}

/** The tor's main routing table as `ip -json route` reports it. */
export async function kernelRoutes(h: NetnsHarness, ns: NetnsRef): Promise<{ dst: string; gateway?: string; protocol?: string }[]> {
  return JSON.parse(await h.exec(ns, 'ip', ['-json', 'route', 'show', 'table', 'main'])) as { dst: string; gateway?: string; protocol?: string }[];
}
