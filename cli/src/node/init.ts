/**
 * `tortie node init`: calico/node's startup on its own (what the DaemonSet's
 * node container does before it runs its parts, or an init container): this
 * host's Node with its addresses and AS, and the default IPPools when the
 * cluster has none. Prints what it decided, one line each.
 */
import type { CommandContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { parseNodeStartupConfig } from './config.js';
import { readHostView, runNodeStartup } from './startup.js';

export async function runNodeInit(ctx: CommandContext, env: Readonly<Record<string, string | undefined>>, options: { nodeNameFile?: string } = {}): Promise<ExitCode> {
  const config = parseNodeStartupConfig(env);
  const outcome = await runNodeStartup(config, {
    datastore: await ctx.datastore(),
    readHost: () => readHostView(config),
    ...(options.nodeNameFile === undefined ? {} : { nodeNameFile: options.nodeNameFile }),
  });
  const address = (a: typeof outcome.ipv4) => (a === null ? 'none' : `${a.address}/${a.prefixLength}${a.ifname === '' ? '' : ` (${a.ifname})`}`);
  ctx.stdout(`node ${outcome.nodeName}: IPv4 ${address(outcome.ipv4)}, IPv6 ${address(outcome.ipv6)}${outcome.isNodeWritten ? '' : ' (unchanged)'}\n`);
  for (const pool of outcome.poolsCreated) ctx.stdout(`ippool.crd.tortie.dev/${pool} created\n`);
  for (const tunnel of outcome.tunnels) {
    if (tunnel.action === 'allocate') ctx.stdout(`${tunnel.kind} tunnel address ${tunnel.address ?? 'none'}\n`);
    if (tunnel.action === 'release') ctx.stdout(`${tunnel.kind} tunnel address released\n`);
  }
  return ExitCode.Ok;
}
