/**
 * tortie-ipam: the CNI IPAM executable (type `tortie-ipam`). The only place
 * that reads the process environment and stdin, prints, and sets the exit
 * code (STYLE.md §2, §6): a CniError passes through, anything else becomes a
 * CNI error object via cniErrorFrom; logs go to stderr, never stdout.
 */
import { text } from 'node:stream/consumers';
import { createLogger } from '../../../lib/log.js';
import { createDatastoreFor, nodeNameFor } from '../datastore.js';
import { CniError, CniErrorCodes, toCniErrorJson } from '../errors.js';
import { errorVersionOf, parseCniRequest, parseCommand } from '../request.js';
import { versionResult } from '../version.js';
import { cmdAdd, cmdCheck, cmdDel, cmdGc, cmdStatus } from './commands.js';

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function logLevel(level: string | undefined): string {
  if (level === undefined) return process.env['LOG_LEVEL'] ?? 'info';
  return level === 'none' ? 'silent' : level === 'warning' ? 'warn' : level;
}

async function readStdin(): Promise<string> {
  try {
    return await text(process.stdin);
  } catch (err) {
    throw new CniError(CniErrorCodes.IoFailure, `reading the network configuration from stdin failed: ${(err as Error).message}`, { cause: err });
  }
}

async function main(): Promise<number> {
  let stdin = '';
  try {
    const command = parseCommand(process.env);
    stdin = await readStdin();
    if (command === 'VERSION') {
      let requested: string | undefined;
      try {
        const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
        if (typeof v === 'string') requested = v;
      } catch {
        // VERSION may come with no config at all; answer in our latest version.
      }
      print(versionResult(requested));
      return 0;
    }
    const request = parseCniRequest(process.env, stdin, { plugin: 'tortie-ipam' });
    const log = createLogger({ level: logLevel(request.config.log_level), name: 'tortie-ipam' }).child({
      command: request.command,
      containerId: request.containerId,
    });
    const datastore = await createDatastoreFor(request.config);
    try {
      const deps = { datastore, nodeName: await nodeNameFor(request.config), log };
      switch (request.command) {
        case 'ADD':
          print(await cmdAdd(request, deps));
          break;
        case 'DEL':
          await cmdDel(request, deps);
          break;
        case 'CHECK':
          await cmdCheck(request, deps);
          break;
        case 'STATUS':
          await cmdStatus(request, deps);
          break;
        case 'GC':
          await cmdGc(request, deps);
          break;
      }
    } finally {
      await datastore.close();
    }
    return 0;
  } catch (err) {
    print(toCniErrorJson(err, errorVersionOf(stdin)));
    return 1;
  }
}

process.exitCode = await main();
