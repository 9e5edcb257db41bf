/**
 * The controllers' own settings, read once from the environment and frozen.
 * The datastore settings (DATASTORE_TYPE, ETCD_ENDPOINTS, KUBECONFIG) are the
 * CLI's: `tortie kube-controllers` opens the datastore as every `tortie`
 * command does (cli/src/config.ts, cli/src/datastore.ts).
 */
import { z } from 'zod';
import { TortieError } from '../../lib/errors.js';
import { parseDurationMs } from '../../crds/src/index.js';

export const CONTROLLER_NAMES = ['node', 'ipam'] as const;
export type ControllerName = (typeof CONTROLLER_NAMES)[number];

export interface ControllersConfig {
  /** Which loops run: `node` (node cleanup) and `ipam` (IPAM garbage collection). */
  readonly enabled: readonly ControllerName[];
  /** How long a leak must be seen, unchanged, before the GC releases it. */
  readonly ipamLeakGracePeriodMs: number;
  /** How long a node must be gone before its records are removed. */
  readonly nodeGracePeriodMs: number;
  /** Full resync period of every loop. */
  readonly resyncIntervalMs: number;
  /** How often the health line is logged. */
  readonly healthLogIntervalMs: number;
  /** Exit (so the Deployment restarts us) if a loop has not synced by then. */
  readonly syncTimeoutMs: number;
}

const emptyAsUndefined = (value: unknown): unknown => (value === '' ? undefined : value);

const duration = (fallback: string) =>
  z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .default(fallback)
      .transform((text, ctx) => {
        const ms = parseDurationMs(text);
        if (ms === null) {
          ctx.addIssue({ code: 'custom', message: `${JSON.stringify(text)} is not a duration such as 90s, 15m or 1h` });
          return z.NEVER;
        }
        return ms;
      }),
  );

const EnvSchema = z.object({
  ENABLED_CONTROLLERS: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .default('node,ipam')
      .transform((text) => text.split(',').map((s) => s.trim()).filter((s) => s !== ''))
      .pipe(z.array(z.enum(CONTROLLER_NAMES, { error: (issue) => `${JSON.stringify(issue.input)} is not a controller; use node and/or ipam` })).min(1)),
  ),
  IPAM_LEAK_GRACE_PERIOD: duration('15m'),
  NODE_CLEANUP_GRACE_PERIOD: duration('30s'),
  RESYNC_INTERVAL: duration('5m'),
  HEALTH_LOG_INTERVAL: duration('60s'),
  SYNC_TIMEOUT: duration('5m'),
});

/** Throws ERR_CONFIG_INVALID naming each bad variable and its value. */
export function parseControllersConfig(env: Readonly<Record<string, string | undefined>>): ControllersConfig {
  const result = EnvSchema.safeParse(env);
  if (!result.success) {
    const message = result.error.issues
      .map((issue) => {
        const variable = String(issue.path[0] ?? 'environment');
        return `${variable}=${JSON.stringify(env[variable] ?? '')}: ${issue.message}`;
      })
      .join('\n');
    throw new TortieError('ERR_CONFIG_INVALID', message);
  }
  const d = result.data;
  return Object.freeze({
    enabled: Object.freeze([...new Set(d.ENABLED_CONTROLLERS)]),
    ipamLeakGracePeriodMs: d.IPAM_LEAK_GRACE_PERIOD,
    nodeGracePeriodMs: d.NODE_CLEANUP_GRACE_PERIOD,
    resyncIntervalMs: d.RESYNC_INTERVAL,
    healthLogIntervalMs: d.HEALTH_LOG_INTERVAL,
    syncTimeoutMs: d.SYNC_TIMEOUT,
  });
}
