/**
 * Every name tortie gives to something outside its own process lives here, so
 * that after a restart with no memory we can still recognise what is ours
 * (STYLE.md §1: "Everything we create is recognisably ours").
 */

/** API group and version of tortie's own resources (Calico's projectcalico.org/v3 kinds). */
export const TORTIE_GROUP = 'crd.tortie.dev';
export const TORTIE_VERSION = 'v1';
export const TORTIE_API_VERSION = `${TORTIE_GROUP}/${TORTIE_VERSION}`;
/** Calico's API version, accepted on input and rewritten to ours. */
export const CALICO_API_VERSION = 'projectcalico.org/v3';

/** etcd key prefix; the layout below it is documented in lib/datastore/etcd.ts. */
export const ETCD_KEY_PREFIX = '/tortie/v1/';

/** nftables table that the policy agent owns; nothing outside it is ever touched. */
export const NFT_TABLE_FAMILY = 'inet';
export const NFT_TABLE_NAME = 'tortie';

/**
 * Route protocol numbers (rtprotos, unused by iproute2's list). Each has ONE
 * owner, which may delete any route carrying it and no other:
 * - ROUTE_PROTOCOL: the node agent's routing (BGP-learned, tunnel, blackhole routes);
 * - WORKLOAD_ROUTE_PROTOCOL: the CNI plugin's /32 (/128) host routes to pods and the
 *   169.254.1.1 gateway route, which routing must never reconcile away.
 */
export const ROUTE_PROTOCOL = 80;
export const WORKLOAD_ROUTE_PROTOCOL = 81;
/** Metric of routing's routes, so a learned default route sits beside the host's own instead of replacing it. */
export const ROUTE_METRIC = 32;

/** Host-side veth names: prefix + hash of the workload identity, at most 15 characters (IFNAMSIZ - 1). */
export const HOST_VETH_PREFIX = 'tor';
export const IFNAME_MAX_LENGTH = 15;

/** The gateway address every pod routes through; the host end answers ARP for it by proxy. */
export const POD_GATEWAY_IPV4 = '169.254.1.1';
export const POD_GATEWAY_IPV6 = 'fe80::1';

/** IPAM handle of a workload: `<network>.<containerID>`. */
export function ipamHandleId(network: string, containerId: string): string {
  return `${network}.${containerId}`;
}

/** Annotation keys understood on Pods. */
export const ANNOTATION_IPV4_POOLS = 'tortie.dev/ipv4pools';
export const ANNOTATION_IPV6_POOLS = 'tortie.dev/ipv6pools';
export const ANNOTATION_IP_ADDRS = 'tortie.dev/ipAddrs';
export const ANNOTATION_POD_IP = 'tortie.dev/podIP';
export const ANNOTATION_POD_IPS = 'tortie.dev/podIPs';

/** Tunnel devices. */
export const IPIP_DEVICE = 'tunl0';
export const VXLAN_DEVICE = 'vxlan.tortie';
export const VXLAN_VNI = 4096;
export const VXLAN_PORT = 4789;

/**
 * The CNI agent's Unix socket: the warm fast path the `tortie` CNI plugin tries
 * before doing the whole job itself (cni/src/agent/). Its directory is 0700 and
 * the socket 0600 (root only). The environment variable overrides the path, for
 * tests and for a node that keeps its runtime files elsewhere.
 */
export const CNI_AGENT_SOCKET = '/var/run/tortie/cni.sock';
export const CNI_AGENT_SOCKET_ENV = 'TORTIE_CNI_SOCKET';
/** Set by a fallback (the C shim after the agent failed it): the Node plugin does the job itself, without asking the agent again. */
export const CNI_AGENT_BYPASS_ENV = 'TORTIE_CNI_NO_AGENT';

/**
 * Endpoint status files (Calico's EndpointStatusPathPrefix + `endpoint-status`):
 * felix writes one file per local workload endpoint, named after its host
 * interface, once the nft transaction that dispatches that interface is
 * applied, and removes it when the endpoint goes; the CNI ADD waits for it
 * (`policy_setup_timeout_seconds`). Content: {@link EndpointStatusFile}.
 */
export const ENDPOINT_STATUS_PATH_PREFIX = '/var/run/tortie';
export const ENDPOINT_STATUS_SUBDIR = 'endpoint-status';
export const ENDPOINT_STATUS_DIR = `${ENDPOINT_STATUS_PATH_PREFIX}/${ENDPOINT_STATUS_SUBDIR}`;

/** One endpoint status file, JSON: the endpoint (`namespace/pod`), its host interface and the addresses programmed for it. */
export interface EndpointStatusFile {
  readonly endpoint: string;
  readonly interfaceName: string;
  readonly addresses: readonly string[];
}
