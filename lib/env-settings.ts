/**
 * Reading calico-style settings from environment variables (pure): a blank
 * value counts as unset, and an error names the variable, what it was given
 * and what it accepts. Shared by the parsers of `tortie cni install` and
 * `tortie node` (cli/src/node/config.ts).
 */
import { TortieError } from './errors.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** The trimmed value, or undefined when unset or blank. */
export function envValue(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

export function invalidSetting(name: string, given: string, expected: string): TortieError {
  return new TortieError('ERR_CONFIG_INVALID', `${name}=${JSON.stringify(given)}: ${expected}`);
}

/** true/yes/1 or false/no/0, any case; `fallback` when unset. */
export function parseBooleanSetting(env: Env, name: string, fallback: boolean): boolean {
  const v = envValue(env, name);
  if (v === undefined) return fallback;
  if (/^(true|yes|1)$/i.test(v)) return true;
  if (/^(false|no|0)$/i.test(v)) return false;
  throw invalidSetting(name, v, 'use true or false');
}
