import type { Labels } from '../../../lib/selector/ast.js';

/** A namespace: only its name and labels matter to policy. */
export interface NamespaceModel {
  readonly name: string;
  readonly labels: Labels;
}

/**
 * Kubernetes namespace → model. The API server labels every namespace
 * `kubernetes.io/metadata.name=<name>` (since 1.21); we add it too, so a
 * namespace stored without it (etcd mode, tests) selects the same way.
 */
export function fromK8sNamespace(ns: { metadata: { name?: string; labels?: Record<string, string> | null } }): NamespaceModel | null {
  const name = ns.metadata.name;
  if (!name) return null;
  return { name, labels: { ...(ns.metadata.labels ?? {}), 'kubernetes.io/metadata.name': name } };
}
