/**
 * RBAC without a cluster: the manifests' roles checked against the requests a
 * component really made to the in-repo API server (fake-apiserver.ts
 * `requests`, by the user its kubeconfig names). The roles must allow every
 * request, and grant no (group, resource, verb) that none of them used. A
 * ClusterRole grants in every namespace, a Role only in its own. Our roles
 * use no wildcards and no resourceNames, so both checks are exact.
 */
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import type { RecordedRequest } from './fake-apiserver.js';

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface ManifestObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: PolicyRule[];
  roleRef?: { apiGroup: string; kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

/** Every document of a YAML manifest file; a YAML error throws, naming the file. */
export async function readManifest(path: string): Promise<ManifestObject[]> {
  const objects: ManifestObject[] = [];
  for (const doc of parseAllDocuments(await readFile(path, 'utf8'))) {
    if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as ManifestObject | null;
    if (value !== null) objects.push(value);
  }
  return objects;
}

/** One thing granted, as `[namespace: ]group resource verb` (`core` for the core group). */
export type Grant = string;
const grantOf = (namespace: string | null, group: string, resource: string, verb: string): Grant => `${namespace === null ? '' : `${namespace}: `}${group || 'core'} ${resource} ${verb}`;

/** What the ClusterRoles and Roles among `objects` grant. */
export function grantsOf(objects: readonly ManifestObject[]): Set<Grant> {
  const grants = new Set<Grant>();
  for (const o of objects) {
    if (o.kind !== 'ClusterRole' && o.kind !== 'Role') continue;
    const namespace = o.kind === 'Role' ? (o.metadata.namespace ?? 'default') : null;
    for (const rule of o.rules ?? []) {
      for (const group of rule.apiGroups ?? []) for (const resource of rule.resources ?? []) for (const verb of rule.verbs) grants.add(grantOf(namespace, group, resource, verb));
    }
  }
  return grants;
}

/**
 * What the roles deny of these requests, and what they grant that none of
 * them used. `alsoBound`: roles bound to the same account that may allow a
 * request but are judged elsewhere (not reported as unused).
 */
export function checkRoles(objects: readonly ManifestObject[], requests: readonly RecordedRequest[], alsoBound: readonly ManifestObject[] = []): { denied: string[]; unused: Grant[] } {
  const own = grantsOf(objects);
  const grants = new Set([...own, ...grantsOf(alsoBound)]);
  const used = new Set<Grant>();
  const denied = new Set<string>();
  for (const r of requests) {
    if (r.resource === null) {
      denied.add(`${r.verb} ${r.path} (no resource)`);
      continue;
    }
    const inNamespace = r.namespace === null ? null : grantOf(r.namespace, r.group, r.resource, r.verb);
    const clusterWide = grantOf(null, r.group, r.resource, r.verb);
    const allowedBy = inNamespace !== null && grants.has(inNamespace) ? inNamespace : grants.has(clusterWide) ? clusterWide : null;
    if (allowedBy === null) denied.add(inNamespace ?? clusterWide);
    else used.add(allowedBy);
  }
  return { denied: [...denied].sort(), unused: [...own].filter((g) => !used.has(g)).sort() };
}
