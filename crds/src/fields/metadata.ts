import { z } from 'zod';
import { hint } from './hints.js';

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A Kubernetes object name (RFC 1123 subdomain: lower case, digits, '-' and '.', at most 253). */
export const ObjectNameSchema = hint(
  z
    .string()
    .min(1)
    .max(253)
    .regex(DNS_SUBDOMAIN)
    .describe('Name of the object, unique within its kind (and namespace). Lower case letters, digits, "-" and ".".'),
  'a name of lower-case letters, digits, "-" and ".", starting and ending with a letter or digit, such as default-ipv4-ippool',
);

const StringMapSchema = z.record(z.string(), z.string());

/**
 * Kubernetes ObjectMeta. Every field Kubernetes defines is known, so a typo
 * (`lables`) is an unknown-field error like anywhere else. The CRD leaves
 * metadata to Kubernetes (type: object only).
 */
export const ObjectMetaSchema = z
  .strictObject({
    name: ObjectNameSchema,
    generateName: z.string().optional().describe('Prefix for a server-generated name.'),
    namespace: z.string().optional().describe('Namespace of a namespaced object.'),
    labels: StringMapSchema.optional().describe('Labels, matched by selectors.'),
    annotations: StringMapSchema.optional().describe('Annotations: free-form metadata.'),
    resourceVersion: z.string().optional().describe('Revision for optimistic concurrency; set by the datastore.'),
    uid: z.string().optional().describe('Unique id; set by the datastore.'),
    creationTimestamp: z.string().nullable().optional().describe('When the object was created; set by the datastore.'),
    deletionTimestamp: z.string().nullable().optional().describe('When deletion was requested; set by Kubernetes.'),
    deletionGracePeriodSeconds: z.int().optional().describe('Set by Kubernetes.'),
    generation: z.int().optional().describe('Spec generation; set by the datastore.'),
    selfLink: z.string().optional().describe('Deprecated; set by Kubernetes.'),
    finalizers: z.array(z.string()).optional().describe('Finalizers that must run before deletion.'),
    ownerReferences: z.array(z.looseObject({})).optional().describe('Owners of this object.'),
    managedFields: z.array(z.looseObject({})).optional().describe('Server-side apply bookkeeping; set by Kubernetes.'),
  })
  .describe('Standard Kubernetes object metadata.');

export type ObjectMetaOutput = z.output<typeof ObjectMetaSchema>;

/** ObjectMeta of a core Kubernetes object read through the API: everything passes. */
export const LooseObjectMetaSchema = z.looseObject({
  name: z.string().describe('Name of the object.'),
  namespace: z.string().optional().describe('Namespace of the object.'),
  labels: StringMapSchema.optional().describe('Labels.'),
  annotations: StringMapSchema.optional().describe('Annotations.'),
  resourceVersion: z.string().optional().describe('Revision for optimistic concurrency.'),
  uid: z.string().optional().describe('Unique id.'),
});
