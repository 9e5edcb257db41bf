import type { CommandContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { type LocalEtcdSettings, isHealthy, planLocalEtcd, runningPid, startLocalEtcd, stopLocalEtcd } from '../local-etcd.js';

/**
 * `tortie etcd start|stop|status`: a local etcd to try tortie with, on the
 * first ETCD_ENDPOINTS address (http://127.0.0.1:2379 by default), data in
 * TORTIE_ETCD_DATA_DIR (/var/lib/tortie/etcd). start and stop are idempotent.
 */
function settingsOf(ctx: CommandContext): LocalEtcdSettings {
  const endpoint = ctx.config.etcdEndpoints[0] ?? 'http://127.0.0.1:2379';
  return planLocalEtcd(endpoint, ctx.config.etcdDataDir, ctx.config.etcdBinary);
}

export async function runEtcdStart(ctx: CommandContext): Promise<ExitCode> {
  const settings = settingsOf(ctx);
  const started = await startLocalEtcd(settings);
  switch (started.outcome) {
    case 'started':
      ctx.stdout(`etcd started (pid ${started.pid}), serving ${settings.clientUrl}; data in ${settings.dataDir}, log in ${settings.logFile}\n`);
      break;
    case 'already-running':
      ctx.stdout(`etcd is already running (pid ${started.pid}), serving ${settings.clientUrl}\n`);
      break;
    case 'foreign':
      ctx.stdout(`an etcd not started by tortie already serves ${settings.clientUrl}; using it\n`);
      break;
  }
  return ExitCode.Ok;
}

export async function runEtcdStop(ctx: CommandContext): Promise<ExitCode> {
  const settings = settingsOf(ctx);
  const pid = await stopLocalEtcd(settings);
  ctx.stdout(pid === null ? 'etcd is not running\n' : `etcd stopped (pid ${pid}); its data stays in ${settings.dataDir}\n`);
  return ExitCode.Ok;
}

/** Exit 0 when the local etcd runs and is healthy, 4 otherwise. */
export async function runEtcdStatus(ctx: CommandContext): Promise<ExitCode> {
  const settings = settingsOf(ctx);
  const pid = runningPid(settings);
  const healthy = await isHealthy(settings.clientUrl);
  if (pid !== null) {
    ctx.stdout(`etcd is running (pid ${pid}), serving ${settings.clientUrl}, ${healthy ? 'healthy' : 'not healthy'}; data in ${settings.dataDir}, log in ${settings.logFile}\n`);
    return healthy ? ExitCode.Ok : ExitCode.Unavailable;
  }
  if (healthy) {
    ctx.stdout(`etcd not started by tortie serves ${settings.clientUrl}, healthy\n`);
    return ExitCode.Ok;
  }
  ctx.stdout(`etcd is not running (start it with: tortie etcd start)\n`);
  return ExitCode.Unavailable;
}
