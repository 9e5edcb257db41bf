import { z } from 'zod';
import { stringify } from 'yaml';
import { TORTIE_GROUP, TORTIE_VERSION } from '../../lib/contract.js';
import { tortieKinds, type KindInfo } from '../../lib/datastore/kinds.js';
import { intOrStringFields } from './fields/int-or-string.js';
import { schemaFor } from './schemas.js';

/**
 * CustomResourceDefinitions generated from the zod schemas (pure: objects and
 * text; generate.ts writes them to manifests/crds/). Kubernetes wants a
 * structural schema: every node typed, no $ref/definitions, no
 * `additionalProperties: false`, unions only as x-kubernetes-int-or-string.
 */

export type JsonSchema = { [key: string]: unknown };

interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
}

const AGE: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

/** `kubectl get` columns per kind (priority 1 shows with -o wide only). */
export const printerColumns: Readonly<Record<string, readonly PrinterColumn[]>> = {
  IPPool: [
    { name: 'CIDR', type: 'string', jsonPath: '.spec.cidr', description: 'The pool CIDR' },
    { name: 'Block Size', type: 'integer', jsonPath: '.spec.blockSize', description: 'Prefix length of the blocks' },
    { name: 'IPIP', type: 'string', jsonPath: '.spec.ipipMode', description: 'IP-in-IP mode' },
    { name: 'VXLAN', type: 'string', jsonPath: '.spec.vxlanMode', description: 'VXLAN mode' },
    { name: 'NAT', type: 'boolean', jsonPath: '.spec.natOutgoing', description: 'Outgoing NAT' },
    { name: 'Disabled', type: 'boolean', jsonPath: '.spec.disabled', description: 'No new allocations' },
    { name: 'Node Selector', type: 'string', jsonPath: '.spec.nodeSelector', priority: 1 },
  ],
  BGPConfiguration: [
    { name: 'AS', type: 'integer', jsonPath: '.spec.asNumber', description: 'Default AS number' },
    { name: 'Mesh', type: 'boolean', jsonPath: '.spec.nodeToNodeMeshEnabled', description: 'Node-to-node mesh' },
    { name: 'Port', type: 'integer', jsonPath: '.spec.listenPort', description: 'BGP listen port' },
  ],
  BGPPeer: [
    { name: 'Peer IP', type: 'string', jsonPath: '.spec.peerIP', description: 'Address of the peer' },
    { name: 'AS', type: 'integer', jsonPath: '.spec.asNumber', description: 'AS number of the peer' },
    { name: 'Node', type: 'string', jsonPath: '.spec.node', description: 'The one node with this peering' },
    { name: 'Node Selector', type: 'string', jsonPath: '.spec.nodeSelector', priority: 1 },
    { name: 'Peer Selector', type: 'string', jsonPath: '.spec.peerSelector', priority: 1 },
  ],
  FelixConfiguration: [],
  NetworkPolicy: [
    { name: 'Order', type: 'number', jsonPath: '.spec.order' },
    { name: 'Selector', type: 'string', jsonPath: '.spec.selector' },
    { name: 'Types', type: 'string', jsonPath: '.spec.types', priority: 1 },
  ],
  GlobalNetworkPolicy: [
    { name: 'Order', type: 'number', jsonPath: '.spec.order' },
    { name: 'Selector', type: 'string', jsonPath: '.spec.selector' },
    { name: 'Types', type: 'string', jsonPath: '.spec.types', priority: 1 },
  ],
  GlobalNetworkSet: [{ name: 'Nets', type: 'string', jsonPath: '.spec.nets' }],
  HostEndpoint: [
    { name: 'Node', type: 'string', jsonPath: '.spec.node' },
    { name: 'Interface', type: 'string', jsonPath: '.spec.interfaceName' },
    { name: 'Expected IPs', type: 'string', jsonPath: '.spec.expectedIPs', priority: 1 },
  ],
  IPAMBlock: [
    { name: 'CIDR', type: 'string', jsonPath: '.spec.cidr' },
    { name: 'Affinity', type: 'string', jsonPath: '.spec.affinity' },
  ],
  BlockAffinity: [
    { name: 'Node', type: 'string', jsonPath: '.spec.node' },
    { name: 'CIDR', type: 'string', jsonPath: '.spec.cidr' },
    { name: 'State', type: 'string', jsonPath: '.spec.state' },
  ],
  IPAMHandle: [{ name: 'Handle', type: 'string', jsonPath: '.spec.handleID' }],
  Node: [
    { name: 'IPv4', type: 'string', jsonPath: '.spec.bgp.ipv4Address' },
    { name: 'IPv6', type: 'string', jsonPath: '.spec.bgp.ipv6Address', priority: 1 },
    { name: 'AS', type: 'integer', jsonPath: '.spec.bgp.asNumber' },
    { name: 'RR Cluster', type: 'string', jsonPath: '.spec.bgp.routeReflectorClusterID', priority: 1 },
  ],
  WorkloadEndpoint: [
    { name: 'Node', type: 'string', jsonPath: '.spec.node' },
    { name: 'Pod', type: 'string', jsonPath: '.spec.pod' },
    { name: 'Interface', type: 'string', jsonPath: '.spec.interfaceName' },
    { name: 'Networks', type: 'string', jsonPath: '.spec.ipNetworks' },
  ],
};

const SAFE_BOUNDS = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);

function clear(schema: JsonSchema): void {
  for (const key of Object.keys(schema)) delete schema[key];
}

function isRecord(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Rewrites what zod emits into Kubernetes' structural dialect, in place. */
function makeStructural(node: JsonSchema): void {
  delete node.$schema;
  delete node.definitions;
  delete node.$defs;
  delete node.$id;
  if (node.additionalProperties === false) delete node.additionalProperties;
  if (isRecord(node.additionalProperties) && Object.keys(node.additionalProperties).length === 0) {
    // A loose object: keep its unknown fields instead of pruning them.
    delete node.additionalProperties;
    node['x-kubernetes-preserve-unknown-fields'] = true;
  }
  for (const bound of ['minimum', 'maximum'] as const) {
    if (typeof node[bound] === 'number' && SAFE_BOUNDS.has(node[bound])) delete node[bound];
  }
  // A union of enums of one type (z.literal unions) is one enum.
  for (const key of ['anyOf', 'oneOf'] as const) {
    const members = node[key];
    if (!Array.isArray(members) || !members.every(isRecord)) continue;
    const types = new Set(members.map((m) => m.type));
    if (types.size === 1 && members.every((m) => Array.isArray(m.enum) && Object.keys(m).every((k) => k === 'type' || k === 'enum'))) {
      delete node[key];
      node.type = members[0]?.type;
      node.enum = members.flatMap((m) => m.enum as unknown[]);
    }
  }
  for (const value of Object.values(node)) {
    if (isRecord(value)) {
      if (value === node.properties) {
        for (const child of Object.values(value)) if (isRecord(child)) makeStructural(child);
      } else {
        makeStructural(value);
      }
    } else if (Array.isArray(value)) {
      for (const item of value) if (isRecord(item)) makeStructural(item);
    }
  }
}

/** The openAPIV3Schema of a kind's CRD. */
export function renderOpenApiSchema(schema: z.ZodType): JsonSchema {
  const json = z.toJSONSchema(schema, {
    target: 'openapi-3.0',
    io: 'input',
    reused: 'inline',
    unrepresentable: 'throw',
    override: (ctx) => {
      if (intOrStringFields.has(ctx.zodSchema)) {
        const description = ctx.jsonSchema.description;
        clear(ctx.jsonSchema as JsonSchema);
        Object.assign(ctx.jsonSchema, { ...(description === undefined ? {} : { description }), 'x-kubernetes-int-or-string': true });
      }
    },
  }) as JsonSchema;
  makeStructural(json);
  const properties = json.properties as Record<string, JsonSchema> | undefined;
  // Kubernetes owns metadata: the schema may say only that it is an object.
  if (properties?.metadata !== undefined) properties.metadata = { type: 'object' };
  // apiVersion and kind are set by the API server; like kubebuilder, only type and description.
  for (const key of ['apiVersion', 'kind'] as const) {
    const field = properties?.[key];
    if (field !== undefined) delete field.enum;
  }
  return json;
}

/** The CustomResourceDefinition of a tortie kind, as a plain object. */
export function renderCrd(kind: KindInfo): JsonSchema {
  const columns = [...(printerColumns[kind.kind] ?? []), AGE];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${kind.plural}.${TORTIE_GROUP}`, labels: { 'app.kubernetes.io/part-of': 'tortie' } },
    spec: {
      group: TORTIE_GROUP,
      names: {
        kind: kind.kind,
        listKind: `${kind.kind}List`,
        plural: kind.plural,
        singular: kind.singular,
        ...(kind.shortNames.length > 0 ? { shortNames: [...kind.shortNames] } : {}),
        categories: ['tortie'],
      },
      scope: kind.namespaced ? 'Namespaced' : 'Cluster',
      versions: [
        {
          name: TORTIE_VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: renderOpenApiSchema(schemaFor(kind)) },
          additionalPrinterColumns: columns,
        },
      ],
    },
  };
}

const HEADER = '# Generated from crds/src by `npm run generate`. Do not edit: change the zod schema and regenerate.\n';

/** File name of a kind's CRD under manifests/crds/: `<group>_<plural>.yaml`. */
export function crdFileName(kind: KindInfo): string {
  return `${TORTIE_GROUP}_${kind.plural}.yaml`;
}

/** Every generated file of manifests/crds/, name → content. */
export function renderCrdFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const kind of tortieKinds) {
    files.set(crdFileName(kind), HEADER + stringify(renderCrd(kind), { lineWidth: 0, aliasDuplicateObjects: false }));
  }
  const kustomization = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: tortieKinds.map(crdFileName),
  };
  files.set('kustomization.yaml', HEADER + stringify(kustomization, { lineWidth: 0 }));
  return files;
}
