/**
 * `tortie cni install`'s settings, from the environment variables Calico's
 * install-cni container reads (a calico.yaml user changes image names, not
 * settings). Pure: parsed once, frozen; every error names the variable.
 */
import { parseIp } from '../../../lib/cidr.js';
import { envValue as value, invalidSetting as invalid, parseBooleanSetting as parseBoolean, type Env } from '../../../lib/env-settings.js';
import { TortieError } from '../../../lib/errors.js';

export const DEFAULT_CNI_BIN_DIR = '/opt/cni/bin';
export const DEFAULT_CNI_NET_DIR = '/etc/cni/net.d';
export const DEFAULT_CNI_CONF_NAME = '10-tortie.conflist';
export const DEFAULT_SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** The kubeconfig and token file the plugin reads, beside the conflist (Calico: calico-kubeconfig). */
export const CNI_KUBECONFIG_NAME = 'tortie-kubeconfig';
export const CNI_TOKEN_NAME = 'tortie-token';

/**
 * The conflist written when CNI_NETWORK_CONFIG is unset: the one in DESIGN.md,
 * with Calico's placeholders, for the datastore the install is told to use.
 */
export function defaultNetworkConfigTemplate(datastoreType: 'kubernetes' | 'etcdv3'): string {
  const datastore =
    datastoreType === 'kubernetes'
      ? '"datastore_type": "kubernetes",\n      "kubernetes": { "kubeconfig": "__KUBECONFIG_FILEPATH__" },'
      : '"datastore_type": "etcdv3",\n      "etcd_endpoints": "__ETCD_ENDPOINTS__",';
  return `{
  "name": "k8s-pod-network",
  "cniVersion": "1.0.0",
  "plugins": [
    {
      "type": "tortie",
      "log_level": "info",
      ${datastore}
      "nodename": "__KUBERNETES_NODE_NAME__",
      "mtu": __CNI_MTU__,
      "ipam": { "type": "tortie-ipam" },
      "policy": { "type": "k8s" }
    },
    { "type": "portmap", "snat": true, "capabilities": { "portMappings": true } },
    { "type": "bandwidth", "capabilities": { "bandwidth": true } }
  ]
}
`;
}

export interface CniInstallConfig {
  readonly binDir: string;
  readonly netDir: string;
  readonly confName: string;
  readonly networkConfigTemplate: string;
  readonly mtu: number;
  readonly nodeName: string;
  readonly datastoreType: 'kubernetes' | 'etcdv3';
  readonly etcdEndpoints: string;
  /** Where the pod's service account (token, ca.crt) is mounted; kubernetes mode only. */
  readonly serviceAccountDir: string;
  /** https://host:port of the API server as seen from the host (KUBERNETES_SERVICE_HOST/PORT); null in etcd mode. */
  readonly apiServer: string | null;
  /** Install only the conflist and kubeconfig (Calico's UPDATE_CNI_BINARIES=false). */
  readonly isBinaryUpdateSkipped: boolean;
}

function absolutePath(env: Env, name: string, fallback: string): string {
  const v = value(env, name) ?? fallback;
  if (!v.startsWith('/')) throw invalid(name, v, 'use an absolute path on the host (the container must mount it at the same path)');
  return v;
}

function apiServerUrl(env: Env): string {
  const host = value(env, 'KUBERNETES_SERVICE_HOST');
  const port = value(env, 'KUBERNETES_SERVICE_PORT') ?? '443';
  if (host === undefined) {
    throw new TortieError('ERR_CONFIG_INVALID', 'KUBERNETES_SERVICE_HOST is not set: DATASTORE_TYPE=kubernetes needs the API server address (Kubernetes sets it in every pod; outside a pod, set it and KUBERNETES_SERVICE_PORT)');
  }
  const portNumber = Number(port);
  if (!Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65535) throw invalid('KUBERNETES_SERVICE_PORT', port, 'use a port number 1-65535');
  return `https://${parseIp(host)?.family === 6 ? `[${host}]` : host}:${portNumber}`;
}

/** Pure: the environment → the frozen install settings, or ERR_CONFIG_INVALID naming the variable. */
export function parseCniInstallConfig(env: Env, hostName: string): CniInstallConfig {
  const confName = value(env, 'CNI_CONF_NAME') ?? DEFAULT_CNI_CONF_NAME;
  if (confName.includes('/') || !/\.(conflist|conf|json)$/.test(confName)) {
    throw invalid('CNI_CONF_NAME', confName, 'use a file name ending in .conflist (runtimes read *.conflist, *.conf and *.json), e.g. 10-tortie.conflist');
  }
  const mtuText = value(env, 'CNI_MTU') ?? '0';
  const mtu = Number(mtuText);
  if (!/^[0-9]+$/.test(mtuText) || (mtu !== 0 && (mtu < 68 || mtu > 65535))) {
    throw invalid('CNI_MTU', mtuText, 'use 0 (the host uplink MTU minus the encapsulation overhead) or an MTU from 68 to 65535');
  }
  const datastoreText = value(env, 'DATASTORE_TYPE') ?? 'kubernetes';
  if (datastoreText !== 'kubernetes' && datastoreText !== 'etcdv3') throw invalid('DATASTORE_TYPE', datastoreText, 'use kubernetes or etcdv3');
  const etcdEndpoints = value(env, 'ETCD_ENDPOINTS') ?? '';
  if (datastoreText === 'etcdv3' && etcdEndpoints === '') {
    throw new TortieError('ERR_CONFIG_INVALID', 'ETCD_ENDPOINTS is not set: DATASTORE_TYPE=etcdv3 needs the etcd URLs the plugin should use, e.g. http://10.0.0.10:2379');
  }
  return Object.freeze({
    binDir: absolutePath(env, 'CNI_BIN_DIR', DEFAULT_CNI_BIN_DIR),
    netDir: absolutePath(env, 'CNI_NET_DIR', DEFAULT_CNI_NET_DIR),
    confName,
    networkConfigTemplate: value(env, 'CNI_NETWORK_CONFIG') ?? defaultNetworkConfigTemplate(datastoreText),
    mtu,
    nodeName: value(env, 'KUBERNETES_NODE_NAME') ?? value(env, 'NODENAME') ?? hostName,
    datastoreType: datastoreText,
    etcdEndpoints,
    serviceAccountDir: absolutePath(env, 'TORTIE_SERVICEACCOUNT_DIR', DEFAULT_SERVICE_ACCOUNT_DIR),
    apiServer: datastoreText === 'kubernetes' ? apiServerUrl(env) : null,
    isBinaryUpdateSkipped: !parseBoolean(env, 'UPDATE_CNI_BINARIES', true),
  });
}
