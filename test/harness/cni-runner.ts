/**
 * A CNI network-configuration-list runner: what a container runtime does with
 * a conflist, following the reference library (containernetworking/cni
 * libcni `AddNetworkList` / `CheckNetworkList` / `DelNetworkList`), so tests
 * drive real plugin executables (ours and Debian's) exactly as a runtime would.
 *
 * - Each plugin's config is its own object plus the list's `cniVersion` and
 *   `name`; `runtimeConfig` holds only the capabilities the plugin declares
 *   (`capabilities: { portMappings: true }`) that the runtime supplies.
 * - ADD runs the plugins in order; each gets the previous plugin's result as
 *   `prevResult`, and the last result is the list's result (libcni caches it).
 * - CHECK runs them in order and DEL in reverse, each with that cached final
 *   result as `prevResult`.
 * - The executable is `<type>` found in CNI_PATH (colon-separated), run with the
 *   runtime's environment plus CNI_*, config on stdin, result on stdout. A
 *   non-zero exit is an error whose stdout is the CNI error object.
 * - `netns` runs every plugin inside that network namespace (a test "node").
 */
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

export interface ConfList {
  cniVersion: string;
  name: string;
  plugins: readonly Record<string, unknown>[];
}

export interface RuntimeConf {
  containerId: string;
  /** Path of the pod's network namespace. */
  netns: string;
  ifName: string;
  /** CNI_ARGS pairs, e.g. { K8S_POD_NAME: 'web' }. */
  args?: Record<string, string>;
  /** Capability arguments: portMappings, bandwidth, ... */
  capabilityArgs?: Record<string, unknown>;
}

export interface RunnerOptions {
  /** Directories searched for plugin executables, in order. */
  cniPath: readonly string[];
  /** Run the plugins in this network namespace (path) instead of ours. */
  netns?: string;
  timeoutMs?: number;
}

/** A plugin that failed: its type, command, exit code and CNI error object (when it printed one). */
export class CniPluginError extends Error {
  constructor(
    readonly pluginType: string,
    readonly command: string,
    readonly exitCode: number,
    readonly errorObject: Record<string, unknown> | null,
    readonly stderr: string,
  ) {
    super(`${pluginType} ${command} exited ${exitCode}: ${errorObject ? JSON.stringify(errorObject) : '(no error object)'}${stderr ? `; stderr: ${stderr.slice(0, 2000)}` : ''}`);
  }
}

export type CniResult = Record<string, unknown>;

export interface PluginCall {
  type: string;
  command: string;
  /** The exact config the plugin read on stdin. */
  stdin: Record<string, unknown>;
  result: CniResult | null;
}

export interface CniRunner {
  add(rt: RuntimeConf): Promise<CniResult>;
  check(rt: RuntimeConf, cachedResult: CniResult): Promise<void>;
  del(rt: RuntimeConf, cachedResult: CniResult | null): Promise<void>;
  /** Every plugin call so far, in order (for assertions on what each plugin received). */
  readonly calls: PluginCall[];
}

export function createCniRunner(list: ConfList, options: RunnerOptions): CniRunner {
  const calls: PluginCall[] = [];

  function findPlugin(type: string): string {
    for (const dir of options.cniPath) {
      const file = join(dir, type);
      if (existsSync(file)) return file;
    }
    throw new Error(`failed to find plugin "${type}" in path [${options.cniPath.join(' ')}]`);
  }

  function pluginConf(plugin: Record<string, unknown>, rt: RuntimeConf, prevResult: CniResult | null): Record<string, unknown> {
    const conf: Record<string, unknown> = { ...plugin, cniVersion: list.cniVersion, name: list.name };
    const caps = (plugin['capabilities'] ?? {}) as Record<string, boolean>;
    const runtimeConfig: Record<string, unknown> = {};
    for (const [cap, value] of Object.entries(rt.capabilityArgs ?? {})) if (caps[cap] === true) runtimeConfig[cap] = value;
    if (Object.keys(runtimeConfig).length > 0) conf['runtimeConfig'] = runtimeConfig;
    if (prevResult !== null) conf['prevResult'] = prevResult;
    return conf;
  }

  async function exec(command: string, plugin: Record<string, unknown>, rt: RuntimeConf, prevResult: CniResult | null): Promise<CniResult | null> {
    const type = String(plugin['type']);
    const file = findPlugin(type);
    const stdin = pluginConf(plugin, rt, prevResult);
    const cniArgs = Object.entries({ IgnoreUnknown: '1', ...rt.args }).map(([k, v]) => `${k}=${v}`).join(';');
    const argv = options.netns === undefined ? [file] : ['nsenter', `--net=${options.netns}`, '--', file];
    const r = await execa(argv[0]!, argv.slice(1), {
      input: JSON.stringify(stdin),
      reject: false,
      timeout: options.timeoutMs ?? 60_000,
      env: {
        CNI_COMMAND: command,
        CNI_CONTAINERID: rt.containerId,
        CNI_NETNS: rt.netns,
        CNI_IFNAME: rt.ifName,
        CNI_ARGS: cniArgs,
        CNI_PATH: options.cniPath.join(':'),
      },
    });
    let parsed: CniResult | null = null;
    try {
      if (r.stdout.trim() !== '') parsed = JSON.parse(r.stdout) as CniResult;
    } catch {
      throw new CniPluginError(type, command, r.exitCode ?? -1, null, `${r.stderr}\nstdout: ${r.stdout}`);
    }
    if (r.exitCode !== 0) throw new CniPluginError(type, command, r.exitCode ?? -1, parsed, r.stderr);
    calls.push({ type, command, stdin, result: parsed });
    return parsed;
  }

  return {
    calls,
    async add(rt) {
      let prev: CniResult | null = null;
      for (const plugin of list.plugins) prev = await exec('ADD', plugin, rt, prev);
      if (prev === null) throw new Error(`conflist ${list.name}: the last plugin printed no result`);
      return prev;
    },
    async check(rt, cachedResult) {
      for (const plugin of list.plugins) await exec('CHECK', plugin, rt, cachedResult);
    },
    async del(rt, cachedResult) {
      for (const plugin of [...list.plugins].reverse()) await exec('DEL', plugin, rt, cachedResult);
    },
  };
}

/**
 * A fresh directory for CNI_PATH holding one executable per plugin type that
 * runs the given Node script (e.g. `{ tortie: 'dist/cni/src/main.js' }`), as a
 * runtime finds plugins by type. The caller removes it.
 */
export async function makePluginDir(scripts: Readonly<Record<string, string>>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tortie-cni-bin-'));
  for (const [type, script] of Object.entries(scripts)) {
    await writeFile(join(dir, type), `#!/bin/sh\nexec '${process.execPath}' '${script}' "$@"\n`);
    await chmod(join(dir, type), 0o755);
  }
  return dir;
}
