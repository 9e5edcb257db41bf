/**
 * `tortie cni install`: what Calico's install-cni init container does, run by
 * the tortie-node DaemonSet's init container. Copies the plugin executables
 * into the host's CNI bin directory, writes the conflist and (kubernetes
 * mode) the plugin's kubeconfig and token file into the CNI config directory.
 * Every file is written to a temporary name and renamed, so a runtime never
 * reads half a file; a file that already has the right content is left alone,
 * so a second run writes nothing.
 *
 * Host layout in CNI_BIN_DIR (the container mounts it at the same path, so
 * the paths written here are the host's):
 *   tortie        sh: runs the C shim (the agent fast path) or, without it,
 *                 the Node plugin, with the paths below
 *   tortie-ipam   sh: runs the Node IPAM plugin
 *   tortie.d/<version>-<fingerprint>/  node (this process's binary),
 *                 tortie-cni-shim, package.json, dist/, node_modules/ (the
 *                 production dependencies only)
 */
import { createHash } from 'node:crypto';
import { chmod, cp, lstat, mkdir, readdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TortieError } from '../../../lib/errors.js';
import { CNI_KUBECONFIG_NAME, CNI_TOKEN_NAME, type CniInstallConfig } from './config.js';
import { renderCniKubeconfig } from './kubeconfig.js';
import { networkConfigValuesOf, renderNetworkConfig } from './network-config.js';

export const PAYLOAD_DIR_NAME = 'tortie.d';
const COMPLETE_MARKER = '.complete';
/** Files a plugin never loads: source maps, type declarations, docs (a third of client-node's size). */
const NOT_RUN = /\.(map|d\.ts|d\.mts|d\.cts|md)$/;

export interface InstalledFile {
  readonly path: string;
  readonly isChanged: boolean;
}

export interface InstallSource {
  /** The checkout or image root: package.json, dist/, node_modules/. */
  readonly appRoot: string;
  /** The Node binary copied to the host for the plugin's fallback. */
  readonly nodeBinary: string;
}

/** The directory holding tortie's package.json, walking up from this file (cni/src/install or dist/cni/src/install). */
export function findAppRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'tortie') return dir;
    if (dirname(dir) === dir) throw new TortieError('ERR_CONFIG_INVALID', `no tortie package.json above ${from}: run tortie cni install from a tortie checkout or image`);
  }
}

/** Writes `content` to `path` through a temporary file and a rename, unless it holds that content already. */
async function writeFileAtomically(path: string, content: string, mode: number): Promise<InstalledFile> {
  try {
    if ((await readFile(path, 'utf8')) === content && ((await stat(path)).mode & 0o777) === mode) return { path, isChanged: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const tmp = join(dirname(path), `.${process.pid}.${Date.now()}.tmp`);
  await writeFile(tmp, content, { mode });
  await chmod(tmp, mode); // writeFile's mode is filtered by the umask.
  await rename(tmp, path);
  return { path, isChanged: true };
}

interface PackageManifest {
  name?: string;
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

const readManifest = async (dir: string): Promise<PackageManifest> => JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as PackageManifest;

/**
 * The directories of the production dependencies, found as Node resolves
 * them (nearest node_modules first). Dev dependencies are left out, so a
 * checkout installs what an `npm ci --omit=dev` image holds.
 */
export async function productionPackageDirs(appRoot: string): Promise<string[]> {
  const found = new Set<string>();
  const visit = async (dir: string, isRoot: boolean): Promise<void> => {
    const manifest = await readManifest(dir);
    const optional = new Set(Object.keys(manifest.optionalDependencies ?? {}));
    for (const name of new Set([...Object.keys(manifest.dependencies ?? {}), ...optional])) {
      let located: string | null = null;
      for (let at = dir; ; at = dirname(at)) {
        const candidate = join(at, 'node_modules', name);
        if (existsSync(join(candidate, 'package.json'))) {
          located = candidate;
          break;
        }
        if (at === appRoot || dirname(at) === at) break;
      }
      if (located === null) {
        if (optional.has(name)) continue;
        throw new TortieError('ERR_CONFIG_INVALID', `dependency ${name} of ${isRoot ? 'tortie' : dir} is not installed under ${appRoot}/node_modules: run npm ci --omit=dev`);
      }
      if (found.has(located)) continue;
      found.add(located);
      await visit(located, false);
    }
  };
  await visit(appRoot, true);
  // A package nested in another's node_modules is copied with its parent.
  return [...found].filter((dir) => ![...found].some((other) => other !== dir && dir.startsWith(`${other}/`))).sort();
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => !e.isDirectory()).map((e) => join(e.parentPath, e.name)).sort();
}

/** What gets copied: [source, path under the payload directory]. */
async function payloadEntries(source: InstallSource): Promise<[string, string][]> {
  const root = await realpath(source.appRoot);
  if (!existsSync(join(root, 'dist', 'cni', 'src', 'main.js'))) {
    throw new TortieError('ERR_CONFIG_INVALID', `${join(root, 'dist')} has no built plugin: run npm run build first`);
  }
  const entries: [string, string][] = [
    [source.nodeBinary, 'node'],
    [join(root, 'package.json'), 'package.json'],
    [join(root, 'dist'), 'dist'],
  ];
  const shim = join(root, 'dist', 'cni', 'shim', 'tortie-cni');
  if (existsSync(shim)) entries.push([shim, 'tortie-cni-shim']);
  for (const dir of await productionPackageDirs(root)) entries.push([dir, relative(root, dir)]);
  return entries;
}

/** Changes whenever any copied file does (path, size, modification time), so a rebuilt checkout reinstalls. */
async function fingerprintOf(entries: readonly [string, string][]): Promise<string> {
  const hash = createHash('sha256');
  for (const [from, to] of entries) {
    const info = await lstat(from);
    const files = info.isDirectory() ? await listFiles(from) : [from];
    for (const file of files) {
      const s = await lstat(file);
      hash.update(`${to}/${relative(from, file)}\0${s.size}\0${s.mtimeMs}\n`);
    }
  }
  return hash.digest('hex').slice(0, 12);
}

function pluginWrapper(payload: string, hasShim: boolean): string {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const node = join(payload, 'node');
  const plugin = join(payload, 'dist', 'cni', 'src', 'main.js');
  const head = '#!/bin/sh\n# Installed by tortie cni install: the tortie CNI plugin.\n';
  if (!hasShim) return `${head}exec ${q(node)} ${q(plugin)} "$@"\n`;
  return `${head}# The shim asks the node agent first and runs the Node plugin itself when no agent answers.\nexport TORTIE_CNI_NODE=${q(node)} TORTIE_CNI_PLUGIN=${q(plugin)}\nexec ${q(join(payload, 'tortie-cni-shim'))} "$@"\n`;
}

function ipamWrapper(payload: string): string {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  return `#!/bin/sh\n# Installed by tortie cni install: the tortie-ipam CNI plugin.\nexec ${q(join(payload, 'node'))} ${q(join(payload, 'dist', 'cni', 'src', 'ipam', 'main.js'))} "$@"\n`;
}

async function installBinaries(binDir: string, source: InstallSource): Promise<InstalledFile[]> {
  const entries = await payloadEntries(source);
  const version = (await readManifest(source.appRoot)).version ?? 'unknown';
  const payloadRoot = join(binDir, PAYLOAD_DIR_NAME);
  const payload = join(payloadRoot, `${version}-${await fingerprintOf(entries)}`);
  await mkdir(payloadRoot, { recursive: true });
  const isPayloadChanged = !existsSync(join(payload, COMPLETE_MARKER));
  if (isPayloadChanged) {
    const tmp = join(payloadRoot, `.tmp-${process.pid}`);
    await rm(tmp, { recursive: true, force: true });
    for (const [from, to] of entries) {
      await mkdir(dirname(join(tmp, to)), { recursive: true });
      await cp(from, join(tmp, to), { recursive: true, dereference: false, preserveTimestamps: true, filter: (path) => !NOT_RUN.test(path) });
    }
    await writeFile(join(tmp, COMPLETE_MARKER), `${version}\n`);
    await rm(payload, { recursive: true, force: true });
    await rename(tmp, payload);
  }
  const hasShim = entries.some(([, to]) => to === 'tortie-cni-shim');
  const written = [
    { path: payload, isChanged: isPayloadChanged },
    await writeFileAtomically(join(binDir, 'tortie'), pluginWrapper(payload, hasShim), 0o755),
    await writeFileAtomically(join(binDir, 'tortie-ipam'), ipamWrapper(payload), 0o755),
  ];
  // The wrappers now name the new payload; older ones (and crashed runs' temporaries) go.
  for (const name of await readdir(payloadRoot)) {
    if (join(payloadRoot, name) !== payload) await rm(join(payloadRoot, name), { recursive: true, force: true });
  }
  return written;
}

async function readServiceAccountFile(config: Pick<CniInstallConfig, 'serviceAccountDir'>, name: string): Promise<string> {
  try {
    return await readFile(join(config.serviceAccountDir, name), 'utf8');
  } catch (err) {
    throw new TortieError(
      'ERR_CONFIG_INVALID',
      `cannot read ${join(config.serviceAccountDir, name)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): DATASTORE_TYPE=kubernetes needs the pod's service account; mount it (automountServiceAccountToken) or set TORTIE_SERVICEACCOUNT_DIR`,
      { cause: err },
    );
  }
}

/**
 * Copies the pod's service-account token to the file the plugin's kubeconfig
 * names. The kubelet renews the pod's token; running this again (the node
 * agent, or the next init container run) carries the renewal to the host.
 */
export async function writeCniToken(config: Pick<CniInstallConfig, 'netDir' | 'serviceAccountDir'>): Promise<InstalledFile> {
  const token = (await readServiceAccountFile(config, 'token')).trim();
  if (token === '') throw new TortieError('ERR_CONFIG_INVALID', `${join(config.serviceAccountDir, 'token')} is empty`);
  return writeFileAtomically(join(config.netDir, CNI_TOKEN_NAME), `${token}\n`, 0o600);
}

/** The whole install; returns every file or directory it is responsible for and whether this run changed it. */
export async function installCni(config: CniInstallConfig, source: InstallSource): Promise<InstalledFile[]> {
  const kubeconfigPath = join(config.netDir, CNI_KUBECONFIG_NAME);
  const rendered = renderNetworkConfig(config.networkConfigTemplate, networkConfigValuesOf(config, kubeconfigPath));
  if (!rendered.ok) throw new TortieError('ERR_CONFIG_INVALID', rendered.problem);
  await mkdir(config.binDir, { recursive: true });
  await mkdir(config.netDir, { recursive: true });
  const written: InstalledFile[] = config.isBinaryUpdateSkipped ? [] : await installBinaries(config.binDir, source);
  if (config.apiServer !== null) {
    written.push(await writeCniToken(config));
    const caPem = await readServiceAccountFile(config, 'ca.crt');
    written.push(await writeFileAtomically(kubeconfigPath, renderCniKubeconfig({ server: config.apiServer, caPem, tokenFile: join(config.netDir, CNI_TOKEN_NAME) }), 0o600));
  }
  // The conflist last: a runtime that sees it can already run every file it names.
  written.push(await writeFileAtomically(join(config.netDir, config.confName), rendered.text, 0o644));
  return written;
}
