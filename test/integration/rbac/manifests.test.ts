/**
 * The RBAC manifests are well formed, without a cluster (kubectl needs an API
 * server's discovery even for `--dry-run=client`, and the in-repo one serves
 * none): every document parses, has the apiVersion of its kind, and a name
 * (and a namespace where the kind is namespaced); each binding points at a
 * role of these files and a ServiceAccount of its own file; rules name real resources
 * (lib/datastore/kinds.ts), real verbs, and no wildcard. What each role
 * grants is checked against recorded requests by the component tests.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { allKinds, groupOf } from '../../../lib/datastore/kinds.js';
import { readManifest, type ManifestObject } from '../../harness/rbac.js';

const dir = fileURLToPath(new URL('../../../manifests/', import.meta.url));
const files = readdirSync(dir).filter((f) => /^rbac-.*\.yaml$/.test(f));

const API_VERSION: Record<string, string> = {
  ServiceAccount: 'v1',
  ClusterRole: 'rbac.authorization.k8s.io/v1',
  ClusterRoleBinding: 'rbac.authorization.k8s.io/v1',
  Role: 'rbac.authorization.k8s.io/v1',
  RoleBinding: 'rbac.authorization.k8s.io/v1',
};
const NAMESPACED = new Set(['ServiceAccount', 'Role', 'RoleBinding']);
const VERBS = new Set(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection']);
const RESOURCES = new Set(allKinds.map((k) => `${groupOf(k)} ${k.plural}`));

/** `clusterRoles`: the ClusterRoles of every RBAC file, which a ClusterRoleBinding may name. */
function problemsOf(objects: readonly ManifestObject[], clusterRoles: readonly ManifestObject[] = []): string[] {
  const problems: string[] = [];
  const named = (kind: string, name: string, namespace?: string) =>
    [...objects, ...clusterRoles].some((o) => o.kind === kind && o.metadata.name === name && (namespace === undefined || o.metadata.namespace === namespace));
  for (const o of objects) {
    const where = `${o.kind}/${o.metadata?.name}`;
    if (API_VERSION[o.kind] === undefined) problems.push(`${where}: unexpected kind`);
    else if (o.apiVersion !== API_VERSION[o.kind]) problems.push(`${where}: apiVersion ${o.apiVersion}, expected ${API_VERSION[o.kind]}`);
    if (!o.metadata?.name) problems.push(`${where}: no metadata.name`);
    if (NAMESPACED.has(o.kind) !== (o.metadata?.namespace !== undefined)) problems.push(`${where}: metadata.namespace ${NAMESPACED.has(o.kind) ? 'missing' : 'set on a cluster-scoped kind'}`);
    for (const [i, rule] of (o.rules ?? []).entries()) {
      for (const verb of rule.verbs) if (!VERBS.has(verb)) problems.push(`${where} rules[${i}]: verb ${verb}`);
      for (const group of rule.apiGroups ?? []) {
        for (const resource of rule.resources ?? []) if (!RESOURCES.has(`${group} ${resource}`)) problems.push(`${where} rules[${i}]: no resource ${resource} in group "${group}"`);
      }
      if (rule.resourceNames !== undefined || rule.nonResourceURLs !== undefined) problems.push(`${where} rules[${i}]: resourceNames/nonResourceURLs are not checked by the tests`);
    }
    if (o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding') {
      const ref = o.roleRef;
      if (ref?.apiGroup !== 'rbac.authorization.k8s.io' || !named(ref.kind, ref.name, ref.kind === 'Role' ? o.metadata.namespace : undefined)) problems.push(`${where}: roleRef names no role of these files`);
      if ((o.subjects ?? []).length === 0) problems.push(`${where}: no subjects`);
      for (const s of o.subjects ?? []) if (s.kind !== 'ServiceAccount' || !named('ServiceAccount', s.name, s.namespace)) problems.push(`${where}: subject ${s.kind}/${s.name} is no ServiceAccount of this file`);
    }
  }
  return problems;
}

describe('manifests/rbac-*.yaml', () => {
  it('finds the three components’ files', () => {
    expect(files.sort()).toEqual(['rbac-cni.yaml', 'rbac-kube-controllers.yaml', 'rbac-node.yaml']);
  });

  it.each(files)('%s parses and is well formed', async (file) => {
    const objects = await readManifest(`${dir}${file}`);
    expect(objects.map((o) => o.kind)).toEqual(expect.arrayContaining(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding']));
    const clusterRoles = (await Promise.all(files.map((f) => readManifest(`${dir}${f}`)))).flat().filter((o) => o.kind === 'ClusterRole');
    expect(problemsOf(objects, clusterRoles)).toEqual([]);
  });

  it('the checks catch what they should', () => {
    const bad: ManifestObject[] = [
      { apiVersion: 'rbac.authorization.k8s.io/v1beta1', kind: 'ClusterRole', metadata: { name: 'r' }, rules: [{ apiGroups: [''], resources: ['pods', '*'], verbs: ['get', 'escalate'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'b' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'other' }, subjects: [{ kind: 'ServiceAccount', name: 'sa', namespace: 'kube-system' }] },
    ];
    expect(problemsOf(bad)).toEqual([
      'ClusterRole/r: apiVersion rbac.authorization.k8s.io/v1beta1, expected rbac.authorization.k8s.io/v1',
      'ClusterRole/r rules[0]: verb escalate',
      'ClusterRole/r rules[0]: no resource * in group ""',
      'ClusterRoleBinding/b: roleRef names no role of these files',
      'ClusterRoleBinding/b: subject ServiceAccount/sa is no ServiceAccount of this file',
    ]);
  });
});
