/**
 * CNI_NETWORK_CONFIG → the conflist the runtime reads (pure). The template
 * uses Calico's install-cni placeholders, so a calico.yaml ConfigMap works
 * after changing the plugin types; the result must be a config the plugin
 * itself accepts, so a typo fails the init container, not every pod.
 */
import { CniError } from '../errors.js';
import { parseCniRequest } from '../request.js';
import type { CniInstallConfig } from './config.js';

export interface NetworkConfigValues {
  readonly nodeName: string;
  readonly mtu: number;
  readonly kubeconfigPath: string;
  readonly datastoreType: string;
  readonly etcdEndpoints: string;
}

/** Placeholder → its value as it appears in the JSON text (strings are JSON-escaped, numbers bare). */
function placeholderValues(values: NetworkConfigValues): ReadonlyMap<string, string> {
  const inString = (s: string) => JSON.stringify(s).slice(1, -1);
  return new Map([
    ['__KUBERNETES_NODE_NAME__', inString(values.nodeName)],
    ['__NODENAME__', inString(values.nodeName)],
    ['__CNI_MTU__', String(values.mtu)],
    ['__KUBECONFIG_FILEPATH__', inString(values.kubeconfigPath)],
    ['__DATASTORE_TYPE__', inString(values.datastoreType)],
    ['__ETCD_ENDPOINTS__', inString(values.etcdEndpoints)],
  ]);
}

/** The placeholder names `renderNetworkConfig` fills, for docs and tests. */
export const NETWORK_CONFIG_PLACEHOLDERS: readonly string[] = [...placeholderValues({ nodeName: '', mtu: 0, kubeconfigPath: '', datastoreType: '', etcdEndpoints: '' }).keys()];

export function networkConfigValuesOf(config: CniInstallConfig, kubeconfigPath: string): NetworkConfigValues {
  return { nodeName: config.nodeName, mtu: config.mtu, kubeconfigPath, datastoreType: config.datastoreType, etcdEndpoints: config.etcdEndpoints };
}

type RenderResult = { ok: true; text: string; plugins: readonly Record<string, unknown>[] } | { ok: false; problem: string };

/** An ADD environment, only so the plugin's own parser can judge each plugin config. */
const PROBE_ENV = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'install-check', CNI_NETNS: '/proc/self/ns/net', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };

function problemOfTortiePlugin(plugin: Record<string, unknown>, cniVersion: unknown, name: unknown): string | null {
  try {
    parseCniRequest(PROBE_ENV, JSON.stringify({ cniVersion, name, ...plugin }));
    return null;
  } catch (err) {
    if (err instanceof CniError) return err.message;
    throw err;
  }
}

/**
 * Fills the placeholders and checks the result: JSON, a conflist (`plugins`)
 * or a single config, every `tortie` plugin accepted by the plugin's parser.
 * A problem is a value naming CNI_NETWORK_CONFIG, not an exception.
 */
export function renderNetworkConfig(template: string, values: NetworkConfigValues): RenderResult {
  let text = template;
  for (const [placeholder, replacement] of placeholderValues(values)) text = text.split(placeholder).join(replacement);
  const leftover = /__[A-Z0-9_]+__/.exec(text);
  if (leftover !== null) {
    return { ok: false, problem: `CNI_NETWORK_CONFIG has the placeholder ${leftover[0]}, which tortie does not fill; use ${NETWORK_CONFIG_PLACEHOLDERS.join(', ')}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { ok: false, problem: `CNI_NETWORK_CONFIG is not JSON once its placeholders are filled: ${(err as Error).message}` };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, problem: 'CNI_NETWORK_CONFIG must be a JSON object (a conflist with "plugins")' };
  const conf = parsed as Record<string, unknown>;
  const isList = Array.isArray(conf.plugins);
  const plugins = (isList ? (conf.plugins as unknown[]) : [conf]).filter((p): p is Record<string, unknown> => typeof p === 'object' && p !== null && !Array.isArray(p));
  if (isList && plugins.length !== (conf.plugins as unknown[]).length) return { ok: false, problem: 'CNI_NETWORK_CONFIG: every entry of "plugins" must be an object' };
  const tortieAt = plugins.findIndex((p) => p.type === 'tortie');
  if (tortieAt < 0) return { ok: false, problem: 'CNI_NETWORK_CONFIG names no plugin of type "tortie"' };
  for (const [i, plugin] of plugins.entries()) {
    if (plugin.type !== 'tortie') continue;
    const problem = problemOfTortiePlugin(plugin, conf.cniVersion, conf.name);
    if (problem !== null) return { ok: false, problem: `CNI_NETWORK_CONFIG${isList ? `, plugins[${i}]` : ''}: ${problem}` };
  }
  return { ok: true, text: `${JSON.stringify(conf, null, 2)}\n`, plugins };
}
