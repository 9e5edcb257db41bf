import { z } from 'zod';
import { cidrContains, parseCidr } from '../../../lib/cidr.js';
import { netField } from '../fields/network.js';
import { markIntOrString } from '../fields/int-or-string.js';
import { isPortName } from '../fields/port.js';
import { LooseObjectMetaSchema } from '../fields/metadata.js';

/**
 * networking.k8s.io/v1 NetworkPolicy, complete as far as tortie enforces it.
 * Loose objects: the API server has already validated what it hands us, and
 * fields added by later Kubernetes versions must not make a policy vanish.
 */

export const LabelSelectorRequirementSchema = z.looseObject({
  key: z.string().describe('The label key.'),
  operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']).describe('In, NotIn, Exists or DoesNotExist.'),
  values: z.array(z.string()).nullable().optional().describe('Values for In and NotIn; empty for Exists and DoesNotExist.'),
});

export const LabelSelectorSchema = z
  .looseObject({
    matchLabels: z.record(z.string(), z.string()).nullable().optional().describe('Labels that must all be present with these values.'),
    matchExpressions: z.array(LabelSelectorRequirementSchema).nullable().optional().describe('Requirements that must all hold.'),
  })
  .superRefine((selector, ctx) => {
    (selector.matchExpressions ?? []).forEach((req, i) => {
      const n = req.values?.length ?? 0;
      if ((req.operator === 'In' || req.operator === 'NotIn') && n === 0) {
        ctx.addIssue({ code: 'custom', path: ['matchExpressions', i, 'values'], message: `operator ${req.operator} needs at least one value` });
      }
      if ((req.operator === 'Exists' || req.operator === 'DoesNotExist') && n > 0) {
        ctx.addIssue({ code: 'custom', path: ['matchExpressions', i, 'values'], message: `operator ${req.operator} takes no values; remove them` });
      }
    });
  })
  .describe('A Kubernetes label selector; an empty selector selects everything.');
export type LabelSelector = z.output<typeof LabelSelectorSchema>;

export const IPBlockSchema = z
  .looseObject({
    cidr: netField('A CIDR, e.g. 192.0.2.0/24.'),
    except: z.array(netField('A CIDR inside cidr.')).nullable().optional().describe('CIDRs inside cidr that are excluded.'),
  })
  .superRefine((block, ctx) => {
    const outer = parseCidr(block.cidr);
    if (outer === null) return;
    (block.except ?? []).forEach((text, i) => {
      const inner = parseCidr(text);
      if (inner === null) return;
      if (inner.family !== outer.family || !cidrContains(outer, inner)) {
        ctx.addIssue({ code: 'custom', path: ['except', i], message: `${text} is not inside ${block.cidr}; except lists parts of cidr` });
      }
    });
  })
  .describe('An address range.');

export const NetworkPolicyPeerSchema = z
  .looseObject({
    podSelector: LabelSelectorSchema.nullable().optional(),
    namespaceSelector: LabelSelectorSchema.nullable().optional(),
    ipBlock: IPBlockSchema.nullable().optional(),
  })
  .superRefine((peer, ctx) => {
    if (peer.ipBlock != null && (peer.podSelector != null || peer.namespaceSelector != null)) {
      ctx.addIssue({ code: 'custom', path: ['ipBlock'], message: 'ipBlock cannot be combined with podSelector or namespaceSelector in one peer; make it a separate peer' });
    }
  })
  .describe('Pods (by podSelector and/or namespaceSelector) or an ipBlock.');

export const NetworkPolicyPortSchema = z
  .looseObject({
    protocol: z.enum(['TCP', 'UDP', 'SCTP']).default('TCP').describe('TCP, UDP or SCTP. [Default: TCP]'),
    port: markIntOrString(z.union([z.int().min(1).max(65535), z.string()]).describe('A port number or a named port of the pod.')).optional(),
    endPort: z.int().min(1).max(65535).optional().describe('With a numeric port: the last port of the range port–endPort.'),
  })
  .superRefine((p, ctx) => {
    if (typeof p.port === 'string' && !isPortName(p.port)) {
      ctx.addIssue({ code: 'custom', path: ['port'], message: `${JSON.stringify(p.port)} is neither a port number nor a port name such as http` });
    }
    if (p.endPort !== undefined) {
      if (typeof p.port !== 'number') {
        ctx.addIssue({ code: 'custom', path: ['endPort'], message: 'endPort needs a numeric port as the start of the range' });
      } else if (p.endPort < p.port) {
        ctx.addIssue({ code: 'custom', path: ['endPort'], message: `port range ${p.port}–${p.endPort} is upside down; endPort must be at least port (${p.port})` });
      }
    }
  })
  .describe('A port, named port or port range.');

export const NetworkPolicyIngressRuleSchema = z.looseObject({
  from: z.array(NetworkPolicyPeerSchema).nullable().optional().describe('Sources allowed; empty or absent means all.'),
  ports: z.array(NetworkPolicyPortSchema).nullable().optional().describe('Ports allowed; empty or absent means all.'),
});

export const NetworkPolicyEgressRuleSchema = z.looseObject({
  to: z.array(NetworkPolicyPeerSchema).nullable().optional().describe('Destinations allowed; empty or absent means all.'),
  ports: z.array(NetworkPolicyPortSchema).nullable().optional().describe('Ports allowed; empty or absent means all.'),
});

export const K8sNetworkPolicySpecSchema = z.looseObject({
  podSelector: LabelSelectorSchema.describe('Selects the pods of the namespace the policy applies to; {} selects all.'),
  policyTypes: z.array(z.enum(['Ingress', 'Egress'])).nullable().optional().describe('Ingress, Egress or both; derived from the rules when absent.'),
  ingress: z.array(NetworkPolicyIngressRuleSchema).nullable().optional().describe('Allowed incoming traffic.'),
  egress: z.array(NetworkPolicyEgressRuleSchema).nullable().optional().describe('Allowed outgoing traffic.'),
});

export const K8sNetworkPolicySchema = z.looseObject({
  apiVersion: z.literal('networking.k8s.io/v1'),
  kind: z.literal('NetworkPolicy'),
  metadata: LooseObjectMetaSchema,
  spec: K8sNetworkPolicySpecSchema,
});
export type K8sNetworkPolicy = z.output<typeof K8sNetworkPolicySchema>;
export type K8sNetworkPolicyInput = z.input<typeof K8sNetworkPolicySchema>;

/**
 * The policy types in effect: as written, or (as the API server defaults
 * them) Ingress, plus Egress when there are egress rules.
 */
export function k8sPolicyTypes(spec: K8sNetworkPolicy['spec']): ('Ingress' | 'Egress')[] {
  if (spec.policyTypes != null && spec.policyTypes.length > 0) return spec.policyTypes;
  return (spec.egress?.length ?? 0) > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
}

