/**
 * The one logger factory (STYLE.md §7): pino, JSON lines, always to stderr
 * (fd 2), because stdout is the protocol for the CNI binaries. Level from the
 * `level` option, else LOG_LEVEL, else info. Bind per-entity children with
 * `log.child({ component, ... })` and pass them in.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { TortieError } from './errors.js';

export type { Logger } from 'pino';

const LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  const level = (options.level ?? process.env['LOG_LEVEL'] ?? 'info').toLowerCase();
  if (!LEVELS.includes(level)) {
    throw new TortieError(
      'ERR_CONFIG_INVALID',
      `LOG_LEVEL: ${JSON.stringify(level)} is not a log level; use one of ${LEVELS.join(', ')}`,
      { details: { level } },
    );
  }
  return pino(
    {
      level: level as LevelWithSilent,
      ...(options.name === undefined ? {} : { name: options.name }),
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 2, sync: true }),
  );
}
