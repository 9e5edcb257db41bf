import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { validateResource } from '../../../crds/src/index.js';
import { fromFelixConfiguration } from './config.js';
import { fromHostEndpoint, fromWorkloadEndpoint, type ConvertResult } from './endpoints.js';
import { fromK8sNetworkPolicy, type K8sNetworkPolicy } from './k8s-network-policy.js';
import { fromGlobalNetworkSet } from './sets.js';
import { fromTortiePolicy, type TortiePolicy } from './tortie-policy.js';

// The converters are written against Calico / Kubernetes field names; this
// checks them against what crds/ actually produces (defaults applied), using
// the repository's example resources.
const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));

function convert(kind: string, obj: Record<string, unknown>): ConvertResult<unknown> | null {
  switch (kind) {
    case 'NetworkPolicy':
      return obj['apiVersion'] === 'networking.k8s.io/v1' ? fromK8sNetworkPolicy(obj as unknown as K8sNetworkPolicy) : fromTortiePolicy(obj as unknown as TortiePolicy);
    case 'GlobalNetworkPolicy':
      return fromTortiePolicy(obj as unknown as TortiePolicy);
    case 'GlobalNetworkSet':
      return fromGlobalNetworkSet(obj as never);
    case 'HostEndpoint':
      return fromHostEndpoint(obj as never);
    case 'WorkloadEndpoint':
      return fromWorkloadEndpoint(obj as never);
    case 'FelixConfiguration':
      return fromFelixConfiguration((obj['spec'] ?? {}) as never);
    default:
      return null;
  }
}

const docs = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) => parseAllDocuments(readFileSync(`${EXAMPLES}${f}`, 'utf8')).map((d, i) => [`${f}#${i}`, d.toJS() as Record<string, unknown>] as const))
  .filter(([, o]) => o !== null && ['NetworkPolicy', 'GlobalNetworkPolicy', 'GlobalNetworkSet', 'HostEndpoint', 'WorkloadEndpoint', 'FelixConfiguration'].includes(String(o['kind'])));

describe('converters accept what crds/ validates', () => {
  it('finds example policy resources', () => {
    expect(docs.length).toBeGreaterThanOrEqual(3);
  });

  it.each(docs)('%s', (_name, input) => {
    const v = validateResource(input);
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    const r = convert(String(input['kind']), v.object as unknown as Record<string, unknown>);
    expect(r).not.toBeNull();
    expect(r!.ok ? 'ok' : r!.error).toBe('ok');
  });

  it('reads a WorkloadEndpoint as the CNI plugin writes it', () => {
    const r = fromWorkloadEndpoint({
      metadata: { name: 'node1-k8s-web-eth0', namespace: 'prod', labels: { app: 'web', 'projectcalico.org/namespace': 'prod' } },
      spec: { node: 'node1', pod: 'web', interfaceName: 'tor0123456789a', ipNetworks: ['10.65.0.2/32', 'fd00::2/128'], serviceAccountName: 'web', ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] },
    });
    expect(r).toEqual({
      ok: true,
      value: {
        namespace: 'prod',
        name: 'web',
        node: 'node1',
        interfaceName: 'tor0123456789a',
        ipv4: ['10.65.0.2'],
        ipv6: ['fd00::2'],
        labels: { app: 'web' },
        serviceAccount: 'web',
        ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
      },
    });
  });
});
