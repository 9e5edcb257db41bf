/** manifests/tortie.yaml as the process tests read it: its workloads' containers and the roles bound to their accounts. */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { resolveContainerEnv, type ManifestConfigMap, type ManifestEnvVar } from '../../../manifests/src/container-env.js';
import type { ManifestObject } from '../../harness/rbac.js';

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export interface Probe {
  httpGet: { path: string; port: number; host: string };
}
export interface ManifestContainer {
  name: string;
  command: string[];
  env?: ManifestEnvVar[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
}
interface Workload {
  kind: string;
  metadata: { name: string };
  spec: { template: { spec: { containers: ManifestContainer[]; serviceAccountName: string } } };
}

const objects = parseAllDocuments(readFileSync(join(repo, 'manifests/tortie.yaml'), 'utf8'))
  .map((d) => d.toJS() as ManifestObject | null)
  .filter((o): o is ManifestObject => o !== null);

/** A workload's container, its service account, and its environment on `nodeName` as the kubelet resolves it. */
export function workloadContainer(kind: string, name: string, container: string, nodeName: string): { container: ManifestContainer; serviceAccount: string; env: Record<string, string> } {
  const workload = objects.find((o) => o.kind === kind && o.metadata.name === name) as unknown as Workload | undefined;
  const found = workload?.spec.template.spec.containers.find((c) => c.name === container);
  if (workload === undefined || found === undefined) throw new Error(`tortie.yaml has no ${kind}/${name} container ${container}`);
  const configMaps = objects.filter((o) => o.kind === 'ConfigMap') as unknown as ManifestConfigMap[];
  return { container: found, serviceAccount: workload.spec.template.spec.serviceAccountName, env: resolveContainerEnv(found.env ?? [], configMaps, nodeName) };
}

/** The Roles and ClusterRoles tortie.yaml binds to a service account of kube-system. */
export function rolesBoundTo(account: string): ManifestObject[] {
  const bound = objects.filter((o) => (o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding') && o.subjects?.some((s) => s.kind === 'ServiceAccount' && s.name === account && s.namespace === 'kube-system'));
  return objects.filter((o) => (o.kind === 'ClusterRole' || o.kind === 'Role') && bound.some((b) => b.roleRef?.kind === o.kind && b.roleRef.name === o.metadata.name));
}
