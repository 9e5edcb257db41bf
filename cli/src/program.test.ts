import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryDatastore } from '../../lib/datastore/memory.js';
import type { Datastore } from '../../lib/datastore/types.js';
import { parseConfigFromEnv } from './config.js';
import type { CommandContext } from './context.js';
import type { ExitCode } from './exit-codes.js';
import { buildProgram } from './program.js';

/** The command line → command wiring, in-process, with the memory datastore. */
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tortie-cli-program-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function tortie(datastore: Datastore, args: string[]): Promise<{ code: ExitCode | undefined; out: string; err: string }> {
  let code: ExitCode | undefined;
  const out: string[] = [];
  const err: string[] = [];
  const program = buildProgram(async (work) => {
    const ctx: CommandContext = {
      config: parseConfigFromEnv({}),
      datastore: async () => datastore,
      stdout: (text) => out.push(text),
      stderr: (text) => err.push(text),
      readStdin: async () => '',
    };
    code = await work(ctx);
  });
  program.configureOutput({ writeOut: (text) => out.push(text), writeErr: (text) => err.push(text), outputError: (text, write) => write(text) });
  await program.parseAsync(args, { from: 'user' });
  return { code, out: out.join(''), err: err.join('') };
}

const pool = (name: string) => `apiVersion: crd.tortie.dev/v1\nkind: IPPool\nmetadata:\n  name: ${name}\nspec:\n  cidr: 10.0.0.0/16\n`;

describe('tortie command line', () => {
  it('-f is repeatable and keeps its order', async () => {
    await writeFile(join(dir, 'b.yaml'), pool('b'));
    await writeFile(join(dir, 'a.yaml'), pool('a'));
    const result = await tortie(createMemoryDatastore(), ['apply', '-f', join(dir, 'b.yaml'), '--filename', join(dir, 'a.yaml')]);
    expect(result).toEqual({ code: 0, out: 'ippool.crd.tortie.dev/b created\nippool.crd.tortie.dev/a created\n', err: '' });
  });

  it('get takes KIND/NAME and -o name', async () => {
    const datastore = createMemoryDatastore();
    await writeFile(join(dir, 'p.yaml'), pool('p'));
    await tortie(datastore, ['create', '-f', join(dir, 'p.yaml')]);
    expect(await tortie(datastore, ['get', 'IPPool/p', '-o', 'name'])).toEqual({ code: 0, out: 'ippool.crd.tortie.dev/p\n', err: '' });
  });

  it('delete KIND NAME with --ignore-not-found exits 0 for a missing object', async () => {
    const result = await tortie(createMemoryDatastore(), ['delete', 'ippools', 'gone', '--ignore-not-found']);
    expect(result.code).toBe(0);
  });

  it.each([
    [['get', 'ippools', '-o', 'xml'], 'commander.invalidArgument'],
    [['get'], 'commander.missingArgument'],
    [['apply', '--bogus'], 'commander.unknownOption'],
    [['frobnicate'], 'commander.unknownCommand'],
    [['--timeout', '0', 'version'], 'commander.invalidArgument'],
  ])('%j is a usage error (%s)', async (args, code) => {
    const failure = await tortie(createMemoryDatastore(), args).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(CommanderError);
    expect((failure as CommanderError).code).toBe(code);
  });
});
