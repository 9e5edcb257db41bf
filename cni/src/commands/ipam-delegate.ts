/**
 * Delegated IPAM: when the config's `ipam.type` is not `tortie-ipam` (say
 * `host-local`), run that plugin from CNI_PATH with our own environment and
 * stdin, as the reference plugins do (libcni `ipam.ExecAdd`/`ExecDel`), and
 * read its result. Its error object is passed on with its own code.
 */
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { commandFailureOf, type CommandRunner } from '../../../lib/kernel/exec.js';
import { CniError, CniErrorCodes, type CniErrorCode } from '../errors.js';
import type { CniRequest } from '../request.js';
import { parseResult, type CniResult } from '../result.js';

async function findPlugin(type: string, path: readonly string[]): Promise<string> {
  if (type.includes('/')) throw new CniError(CniErrorCodes.InvalidNetworkConfig, `invalid network configuration: ipam.type ${JSON.stringify(type)} must be a plugin name, not a path`);
  for (const dir of path) {
    const candidate = join(dir, type);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory (or not executable): try the next one, as libcni's FindInPath does.
    }
  }
  throw new CniError(CniErrorCodes.InvalidNetworkConfig, `the IPAM plugin ${JSON.stringify(type)} is not in CNI_PATH (${path.join(':') || 'empty'})`);
}

/** The CNI error object a failed plugin printed, or null. */
function errorObjectOf(stdout: string): { code: CniErrorCode; msg: string; details?: string } | null {
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    // Not JSON (or nothing at all): the caller reports the plugin's stderr instead.
    return null;
  }
  const o = json as { code?: unknown; msg?: unknown; details?: unknown } | null;
  if (o === null || typeof o !== 'object' || typeof o.code !== 'number' || typeof o.msg !== 'string') return null;
  return { code: o.code as CniErrorCode, msg: o.msg, ...(typeof o.details === 'string' ? { details: o.details } : {}) };
}

function envOf(req: CniRequest, command: 'ADD' | 'DEL' | 'CHECK'): Record<string, string> {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: req.containerId ?? '',
    CNI_NETNS: req.netns ?? '',
    CNI_IFNAME: req.ifName ?? '',
    CNI_ARGS: Object.entries(req.args).map(([k, v]) => `${k}=${v}`).join(';'),
    CNI_PATH: req.path.join(':'),
  };
}

/** Runs the delegated IPAM plugin; its result for ADD, null otherwise. */
export async function execIpamPlugin(req: CniRequest, command: 'ADD' | 'DEL' | 'CHECK', run: CommandRunner): Promise<CniResult | null> {
  const type = req.config.ipam?.type ?? '';
  const plugin = await findPlugin(type, req.path);
  let stdout: string;
  try {
    stdout = await run(plugin, [], { input: req.stdin, env: envOf(req, command) });
  } catch (err) {
    const reported = errorObjectOf(commandFailureOf(err)?.stdout ?? '');
    if (reported !== null) {
      throw new CniError(reported.code, `${type}: ${reported.msg}`, {
        cause: err,
        ...(reported.details === undefined ? {} : { details: reported.details }),
      });
    }
    throw new CniError(CniErrorCodes.Internal, `${type} ${command} failed: ${(err as Error).message}`, { cause: err });
  }
  if (command !== 'ADD') return null;
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch (err) {
    throw new CniError(CniErrorCodes.DecodingFailure, `${type} printed a result that is not JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseResult(json, `${type} result`);
}
