/**
 * `tortie cni-agent`: the CNI agent as its own process, until SIGTERM or
 * SIGINT. The node agent hosts the same thing with `startCniAgent`.
 */
import { CNI_AGENT_SOCKET, CNI_AGENT_SOCKET_ENV } from '../../../lib/contract.js';
import { createLogger } from '../../../lib/log.js';
import { startCniAgent } from './server.js';

export interface CniAgentCommandOptions {
  socket?: string;
  env: Readonly<Record<string, string | undefined>>;
  /** Stops the agent when aborted; by default SIGTERM and SIGINT do. */
  signal?: AbortSignal;
}

export async function runCniAgent(options: CniAgentCommandOptions): Promise<0> {
  const log = createLogger({ name: 'tortie-cni-agent', ...(options.env['LOG_LEVEL'] === undefined ? { level: 'info' } : {}) });
  const socketPath = options.socket ?? (options.env[CNI_AGENT_SOCKET_ENV] || CNI_AGENT_SOCKET);
  const agent = await startCniAgent({ log, socketPath });
  await new Promise<void>((resolve) => {
    if (options.signal !== undefined) {
      options.signal.addEventListener('abort', () => resolve(), { once: true });
      return;
    }
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  await agent.close();
  return 0;
}
