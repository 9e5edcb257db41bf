/**
 * The plugin's side of the fast path: one request to the CNI agent over its
 * Unix socket. Imports only node:net and the frame codec, because it runs
 * before anything else in every plugin process and a fresh Node process pays
 * for each module it loads.
 *
 * Any answer other than a served outcome (no socket, connection refused, the
 * agent closed the connection mid-request or sent garbage, it said it cannot
 * serve this config, it took longer than `responseTimeoutMs`) is `served:
 * false`, and the caller does the whole job itself: ADD and DEL are
 * idempotent, so repeating what a dead agent half-did is safe.
 */
import { connect } from 'node:net';
import { FrameReader, decodeResponse, encodeRequest, type AgentRequest } from './frame.js';

export type AgentAnswer = { served: true; exitCode: number; stdout: Uint8Array } | { served: false; reason: string };

export interface AskAgentOptions {
  /** From connect to the complete answer; past it the plugin does the job itself. */
  responseTimeoutMs?: number;
}

export function askAgent(socketPath: string, request: AgentRequest, options: AskAgentOptions = {}): Promise<AgentAnswer> {
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    const reader = new FrameReader();
    let settled = false;
    const finish = (answer: AgentAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => finish({ served: false, reason: 'the agent did not answer in time' }), options.responseTimeoutMs ?? 60_000);
    socket.on('connect', () => socket.write(encodeRequest(request)));
    socket.on('data', (chunk: Buffer) => {
      const frames = reader.push(chunk);
      if (!frames.ok) return finish({ served: false, reason: frames.reason });
      const body = frames.value[0];
      if (body === undefined) return;
      const response = decodeResponse(body);
      if (!response.ok) return finish({ served: false, reason: response.reason });
      const r = response.value;
      finish(r.status === 'served' ? { served: true, exitCode: r.exitCode, stdout: r.stdout } : { served: false, reason: r.reason });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => finish({ served: false, reason: err.code ?? err.message }));
    socket.on('close', () => finish({ served: false, reason: 'the agent closed the connection before answering' }));
  });
}

/** Whether something accepts connections on the socket path (a live agent), as opposed to no file or one left by a killed agent. */
export function isAnswering(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(socketPath);
    probe.on('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.on('error', () => resolve(false));
  });
}
