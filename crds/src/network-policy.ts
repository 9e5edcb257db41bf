import { z } from 'zod';
import { tortieResource } from './fields/resource.js';
import { selectorField } from './fields/selector.js';
import { PerformanceHintSchema, PolicyTypeSchema, RuleSchema, defaultPolicyTypes } from './policy-rule.js';

/** Only the default tier exists in tortie; the field is accepted so Calico objects apply unchanged. */
export const TierField = z
  .literal('default')
  .default('default')
  .describe('Policy tier. Only "default" exists in tortie. [Default: default]');

export const ORDER_DESCRIPTION =
  'Order in which the policy applies: lower first. Policies without an order apply last; equal orders apply by name.';

export const TYPES_DESCRIPTION =
  'Whether the policy applies to ingress, egress or both. When omitted: [Ingress] if there are no egress rules, [Egress] if there are only egress rules, [Ingress, Egress] if both. Always set when read back.';

/** Fields shared by NetworkPolicy and GlobalNetworkPolicy. */
export const policyCommonShape = {
  tier: TierField,
  order: z.number().optional().describe(ORDER_DESCRIPTION),
  selector: selectorField('Selects the endpoints the policy applies to; empty or all() means every endpoint in scope. [Default: all()]').default(''),
  types: z.array(PolicyTypeSchema).min(1).max(2).optional().describe(TYPES_DESCRIPTION),
  ingress: z.array(RuleSchema).max(1024).optional().describe('Ordered ingress rules; the first rule that matches with a terminal action decides.'),
  egress: z.array(RuleSchema).max(1024).optional().describe('Ordered egress rules; the first rule that matches with a terminal action decides.'),
  serviceAccountSelector: selectorField('Additionally selects endpoints by the labels of their service account.').optional(),
  performanceHints: z.array(PerformanceHintSchema).optional().describe('Hints to the policy agent that never change what the policy enforces.'),
};

type PolicyCommon = {
  types?: ('Ingress' | 'Egress')[] | undefined;
  ingress?: unknown[] | undefined;
  egress?: unknown[] | undefined;
};

/** Fills `types` the way Calico does when the policy omits it. */
export function withPolicyTypes<T extends PolicyCommon>(spec: T): T & { types: ('Ingress' | 'Egress')[] } {
  return { ...spec, types: spec.types ?? defaultPolicyTypes(spec.ingress, spec.egress) };
}

export function checkPolicyTypes(spec: PolicyCommon, ctx: z.RefinementCtx): void {
  if (spec.types === undefined) return;
  if (new Set(spec.types).size !== spec.types.length) {
    ctx.addIssue({ code: 'custom', path: ['types'], message: `types lists ${spec.types.join(', ')}; name each of Ingress and Egress at most once` });
  }
  for (const [rules, type] of [
    ['ingress', 'Ingress'],
    ['egress', 'Egress'],
  ] as const) {
    if ((spec[rules]?.length ?? 0) > 0 && !spec.types.includes(type)) {
      ctx.addIssue({
        code: 'custom',
        path: [rules],
        message: `the policy has ${rules} rules but types is [${spec.types.join(', ')}], so they would never apply; add ${type} to types`,
      });
    }
  }
}

export const NetworkPolicySpecSchema = z
  .strictObject(policyCommonShape)
  .superRefine((spec, ctx) => checkPolicyTypes(spec, ctx))
  .transform((spec) => withPolicyTypes(spec))
  .describe('A namespaced policy: rules for the endpoints of one namespace that its selector picks.');

export const NetworkPolicySchema = tortieResource(
  'NetworkPolicy',
  'Ordered allow/deny/pass/log rules for selected endpoints in one namespace (tortie\'s richer NetworkPolicy).',
  NetworkPolicySpecSchema,
);
export type NetworkPolicy = z.output<typeof NetworkPolicySchema>;
export type NetworkPolicyInput = z.input<typeof NetworkPolicySchema>;
export type NetworkPolicySpec = NetworkPolicy['spec'];
