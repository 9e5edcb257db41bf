#!/usr/bin/env node
/**
 * tortie-cni (conflist type `tortie`), the executable: the one place that
 * exits. Environment + stdin → stdout and exit code.
 *
 * First it asks the CNI agent (the node agent's warm process, agent/) over
 * its Unix socket and prints the agent's answer; only when no agent answers
 * does it do the whole job itself (run.ts). So this file imports nothing but
 * node builtins, lib/contract.ts and the frame codec before the socket has
 * answered: a fresh Node process pays for every module it loads, and on the
 * fast path none of the plugin's code is loaded here at all.
 *
 * - stdout carries only the protocol: a result, a VERSION answer, or a CNI
 *   error object (then exit 1). Logs go to stderr (lib/log.ts).
 * - Every failure is converted once, in run.ts: a CniError passes through, a
 *   TortieError is mapped by its code, anything else is 999 (errors.ts).
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { CNI_AGENT_BYPASS_ENV, CNI_AGENT_SOCKET, CNI_AGENT_SOCKET_ENV } from '../../lib/contract.js';
import { askAgent } from './agent/client.js';
import { forwardedEnvOf } from './agent/frame.js';

async function readStdin(): Promise<Buffer> {
  if (process.stdin.isTTY) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function write(bytes: Uint8Array | string): Promise<void> {
  return new Promise((resolve) => process.stdout.write(bytes, () => resolve()));
}

async function main(): Promise<void> {
  let stdin: Buffer;
  try {
    stdin = await readStdin();
  } catch (err) {
    const outcome = (await import('./run.js')).stdinFailureOutcome(err, '');
    await write(`${outcome.stdout}\n`);
    process.exit(outcome.exitCode);
  }
  if (!process.env[CNI_AGENT_BYPASS_ENV]) {
    const socketPath = process.env[CNI_AGENT_SOCKET_ENV] || CNI_AGENT_SOCKET;
    const answer = await askAgent(socketPath, { env: forwardedEnvOf(process.env), stdin });
    if (answer.served) {
      if (answer.stdout.length > 0) await write(answer.stdout);
      process.exit(answer.exitCode);
    }
  }
  const { runCni } = await import('./run.js');
  const outcome = await runCni(process.env, stdin.toString('utf8'));
  if (outcome.stdout !== '') await write(`${outcome.stdout}\n`);
  // Exit now rather than wait for clients' idle sockets and timers to wind down.
  process.exit(outcome.exitCode);
}

/** Whether this module is the program (not imported by a test); a symlinked binary counts. */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    // argv[1] is not a file (node -e, a REPL): not the program.
    return false;
  }
}

if (isEntryPoint()) void main();
