/**
 * What the kubelet makes of a container's `env` in tortie.yaml (pure): plain
 * values as they are, `spec.nodeName` as the given node, ConfigMap keys from
 * the file's own ConfigMap. For the tests that run or parse what the
 * manifest's containers would get.
 */
export interface ManifestEnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; configMapKeyRef?: { name: string; key: string } };
}

export interface ManifestConfigMap {
  metadata: { name: string };
  data?: Record<string, string>;
}

/** The container's environment on `nodeName`, or an error naming the variable the manifest cannot resolve. */
export function resolveContainerEnv(env: readonly ManifestEnvVar[], configMaps: readonly ManifestConfigMap[], nodeName: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of env) {
    const ref = v.valueFrom?.configMapKeyRef;
    if (v.value !== undefined) out[v.name] = v.value;
    else if (v.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName') out[v.name] = nodeName;
    else if (ref !== undefined) {
      const value = configMaps.find((c) => c.metadata.name === ref.name)?.data?.[ref.key];
      if (value === undefined) throw new Error(`${v.name}: ConfigMap ${ref.name} has no key ${ref.key} in tortie.yaml`);
      out[v.name] = value;
    } else throw new Error(`${v.name}: a valueFrom the manifest tests do not resolve`);
  }
  return out;
}
