/**
 * tortie's resources: one zod schema per kind (types, validation, CRD).
 * Import from here: `import { validateResource, type IPPool } from '../../crds/src/index.js'`.
 */
export { schemaFor, schemasByKind, kindKeyOf, type ResourceOf, type SchemaOf } from './schemas.js';
export {
  validateResource,
  validateAs,
  parseResource,
  formatIssues,
  formatPath,
  issuesFromZod,
  type ValidationIssue,
  type ValidationResult,
} from './validate.js';

export * from './ip-pool.js';
export * from './bgp-configuration.js';
export * from './bgp-peer.js';
export * from './bgp-password.js';
export * from './felix-configuration.js';
export * from './policy-rule.js';
export * from './network-policy.js';
export * from './global-network-policy.js';
export * from './global-network-set.js';
export * from './endpoint-port.js';
export * from './host-endpoint.js';
export * from './ipam-block.js';
export * from './block-affinity.js';
export * from './ipam-handle.js';
export * from './node.js';
export * from './workload-endpoint.js';
export * from './k8s/network-policy.js';
export * from './k8s/namespace.js';
export * from './k8s/pod.js';
export * from './k8s/service-account.js';
export * from './k8s/node.js';
export * from './k8s/secret.js';
export { parseAsNumber, AS_NUMBER_MAX } from './fields/as-number.js';
export { parsePortMatch, isPortName, protocolNumber, PROTOCOL_NAMES, type PortMatch, type ProtocolName } from './fields/port.js';
export { parseIpWithPort, familyOf, networkOf } from './fields/network.js';
export { parseDurationMs } from './fields/duration.js';
export { ObjectMetaSchema, ObjectNameSchema } from './fields/metadata.js';
