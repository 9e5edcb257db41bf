import { hostname } from 'node:os';
import { parseCniInstallConfig } from '../../../cni/src/install/config.js';
import { findAppRoot, installCni } from '../../../cni/src/install/install.js';
import type { CommandContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * `tortie cni install`: the tortie-node DaemonSet's init container (Calico's
 * install-cni). Settings from the environment (cni/README.md "Installing");
 * one line per file: `PATH written` or `PATH unchanged`.
 */
export async function runCniInstall(ctx: CommandContext, env: Env): Promise<ExitCode> {
  const config = parseCniInstallConfig(env, hostname().toLowerCase());
  const installed = await installCni(config, { appRoot: findAppRoot(), nodeBinary: process.execPath });
  for (const file of installed) ctx.stdout(`${file.path} ${file.isChanged ? 'written' : 'unchanged'}\n`);
  return ExitCode.Ok;
}
