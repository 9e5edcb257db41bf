import { z } from 'zod';
import { tortieResource } from './fields/resource.js';
import { selectorField } from './fields/selector.js';
import { checkPolicyTypes, policyCommonShape, withPolicyTypes } from './network-policy.js';

export const GlobalNetworkPolicySpecSchema = z
  .strictObject({
    ...policyCommonShape,
    namespaceSelector: selectorField('Selects the namespaces whose endpoints the policy applies to (with selector).').optional(),
    doNotTrack: z.boolean().default(false).describe('Apply the rules before connection tracking and leave allowed packets untracked (host endpoints only). [Default: false]'),
    preDNAT: z.boolean().default(false).describe('Apply the rules before DNAT (host endpoints, ingress only). [Default: false]'),
    applyOnForward: z.boolean().default(false).describe('Apply the rules also to traffic forwarded through host endpoints. [Default: false]'),
  })
  .superRefine((spec, ctx) => {
    checkPolicyTypes(spec, ctx);
    if (spec.doNotTrack && spec.preDNAT) {
      ctx.addIssue({ code: 'custom', path: ['preDNAT'], message: 'preDNAT and doNotTrack are both true; a policy can be one or the other, so set one to false' });
    }
    if (spec.preDNAT && (spec.egress?.length ?? 0) > 0) {
      ctx.addIssue({ code: 'custom', path: ['egress'], message: 'a preDNAT policy applies to ingress only; move these rules to another policy or set preDNAT: false' });
    }
    if (spec.preDNAT && spec.types?.includes('Egress') === true) {
      ctx.addIssue({ code: 'custom', path: ['types'], message: 'a preDNAT policy applies to ingress only; remove Egress from types' });
    }
    if ((spec.doNotTrack || spec.preDNAT) && !spec.applyOnForward) {
      ctx.addIssue({
        code: 'custom',
        path: ['applyOnForward'],
        message: `${spec.doNotTrack ? 'doNotTrack' : 'preDNAT'} is true, which needs applyOnForward: true`,
      });
    }
  })
  .transform((spec) => withPolicyTypes(spec))
  .describe('A cluster-wide policy: rules for every endpoint (pods in any namespace, host endpoints) that its selectors pick.');

export const GlobalNetworkPolicySchema = tortieResource(
  'GlobalNetworkPolicy',
  'Ordered allow/deny/pass/log rules for selected endpoints across all namespaces and host endpoints.',
  GlobalNetworkPolicySpecSchema,
);
export type GlobalNetworkPolicy = z.output<typeof GlobalNetworkPolicySchema>;
export type GlobalNetworkPolicyInput = z.input<typeof GlobalNetworkPolicySchema>;
export type GlobalNetworkPolicySpec = GlobalNetworkPolicy['spec'];
