import { z } from 'zod';
import { familyOf, netField } from './fields/network.js';
import { RulePortSchema, protocolField, protocolNumber } from './fields/port.js';
import { selectorField } from './fields/selector.js';

/** What a rule does with a packet it matches (Calico's Action). */
export const RuleActionSchema = z
  .enum(['Allow', 'Deny', 'Log', 'Pass'])
  .describe('Allow accepts, Deny drops, Log logs and goes on to the next rule, Pass skips the remaining policies of this tier and goes to the profiles.');
export type RuleAction = z.output<typeof RuleActionSchema>;

export const PolicyTypeSchema = z.enum(['Ingress', 'Egress']).describe('Ingress or Egress.');
export type PolicyType = z.output<typeof PolicyTypeSchema>;

export const IcmpFieldsSchema = z
  .strictObject({
    type: z.int().min(0).max(254).optional().describe('ICMP type to match, e.g. 8 for echo request.'),
    code: z.int().min(0).max(255).optional().describe('ICMP code to match; needs type as well.'),
  })
  .superRefine((icmp, ctx) => {
    if (icmp.code !== undefined && icmp.type === undefined) {
      ctx.addIssue({ code: 'custom', path: ['code'], message: `an ICMP code needs an ICMP type as well; add type (e.g. type: 3 with code: ${icmp.code})` });
    }
  })
  .describe('Match on ICMP type and code; only with protocol ICMP or ICMPv6.');

export const ServiceAccountMatchSchema = z
  .strictObject({
    names: z.array(z.string()).optional().describe('Match pods running as a service account with one of these names.'),
    selector: selectorField('Match pods running as a service account whose labels match this selector.').optional(),
  })
  .describe('Match pods by their service account; names and selector are ANDed.');

export const EntityRuleSchema = z
  .strictObject({
    nets: z.array(netField('A CIDR or address.')).max(256).optional().describe('Match traffic from (source) or to (destination) addresses in any of these networks.'),
    notNets: z.array(netField('A CIDR or address.')).max(256).optional().describe('Negated nets: match traffic whose address is in none of these networks.'),
    selector: selectorField('Match traffic from (to) endpoints whose labels match this selector.').optional(),
    notSelector: selectorField('Negated selector: match traffic not from (to) endpoints matching it, including non-tortie sources.').optional(),
    namespaceSelector: selectorField(
      'Match endpoints in namespaces whose labels match. In a NetworkPolicy an empty value means the policy\'s own namespace and global() means non-namespaced entities (GlobalNetworkSets, HostEndpoints); in a GlobalNetworkPolicy an empty value means all namespaces.',
    ).optional(),
    ports: z.array(RulePortSchema).max(50).optional().describe('Match these ports: numbers, "min:max" ranges or named ports. Needs protocol TCP, UDP, SCTP or UDPLite.'),
    notPorts: z.array(RulePortSchema).max(50).optional().describe('Negated ports: match ports not in this list.'),
    serviceAccounts: ServiceAccountMatchSchema.optional(),
  })
  .describe('Match criteria for the source or the destination of a packet; all given criteria must match.');
export type EntityRule = z.output<typeof EntityRuleSchema>;

const PORT_PROTOCOLS: readonly number[] = [6, 17, 132, 136];

function hasPorts(entity: EntityRule | undefined): boolean {
  return entity !== undefined && ((entity.ports?.length ?? 0) > 0 || (entity.notPorts?.length ?? 0) > 0);
}

export const RuleSchema = z
  .strictObject({
    action: RuleActionSchema,
    ipVersion: z.literal([4, 6]).optional().describe('Match only IPv4 (4) or only IPv6 (6) traffic.'),
    protocol: protocolField('Match this IP protocol: TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite, or a number 1–255. Required when ports are given.').optional(),
    notProtocol: protocolField('Negated protocol: match any protocol but this one.').optional(),
    icmp: IcmpFieldsSchema.optional(),
    notICMP: IcmpFieldsSchema.optional().describe('Negated ICMP match.'),
    source: EntityRuleSchema.optional().describe('Match criteria for the source.'),
    destination: EntityRuleSchema.optional().describe('Match criteria for the destination.'),
    metadata: z
      .strictObject({ annotations: z.record(z.string(), z.string()).optional().describe('Free-form notes about the rule.') })
      .optional()
      .describe('Information about the rule that does not affect matching.'),
  })
  .superRefine((rule, ctx) => {
    const proto = rule.protocol === undefined ? undefined : protocolNumber(rule.protocol);
    for (const side of ['source', 'destination'] as const) {
      const entity = rule[side];
      if (hasPorts(entity) && (proto === undefined || !PORT_PROTOCOLS.includes(proto))) {
        const which = (entity?.ports?.length ?? 0) > 0 ? 'ports' : 'notPorts';
        ctx.addIssue({
          code: 'custom',
          path: [side, which],
          message: `${which} need protocol TCP, UDP, SCTP or UDPLite on the rule (protocol is ${rule.protocol === undefined ? 'not set' : String(rule.protocol)}); add protocol: TCP`,
        });
      }
      if (rule.ipVersion !== undefined && entity !== undefined) {
        for (const field of ['nets', 'notNets'] as const) {
          (entity[field] ?? []).forEach((net, i) => {
            const family = familyOf(net);
            if (family !== null && family !== rule.ipVersion) {
              ctx.addIssue({
                code: 'custom',
                path: [side, field, i],
                message: `${net} is IPv${family} but the rule has ipVersion ${rule.ipVersion}; remove one or make them agree`,
              });
            }
          });
        }
      }
    }
    for (const [field, protoField] of [
      ['icmp', 'protocol'],
      ['notICMP', 'notProtocol'],
    ] as const) {
      if (rule[field] === undefined) continue;
      const p = rule[protoField];
      const n = p === undefined ? undefined : protocolNumber(p);
      if (n !== 1 && n !== 58) {
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `${field} needs ${protoField} ICMP or ICMPv6 (it is ${p === undefined ? 'not set' : String(p)})`,
        });
      }
    }
    if (rule.ipVersion !== undefined && rule.protocol !== undefined) {
      const n = protocolNumber(rule.protocol);
      if ((n === 1 && rule.ipVersion !== 4) || (n === 58 && rule.ipVersion !== 6)) {
        ctx.addIssue({
          code: 'custom',
          path: ['ipVersion'],
          message: `protocol ${String(rule.protocol)} needs ipVersion ${n === 1 ? 4 : 6}, not ${rule.ipVersion}`,
        });
      }
    }
  })
  .describe('A rule: match criteria and the action for packets that match them all.');
export type Rule = z.output<typeof RuleSchema>;

/**
 * Calico fills in `types` when a policy omits it: Ingress, plus Egress when
 * there are egress rules, Egress alone when there are only egress rules.
 */
export function defaultPolicyTypes(ingress: readonly unknown[] | undefined, egress: readonly unknown[] | undefined): PolicyType[] {
  const hasIngress = (ingress?.length ?? 0) > 0;
  const hasEgress = (egress?.length ?? 0) > 0;
  if (hasEgress && !hasIngress) return ['Egress'];
  if (hasEgress) return ['Ingress', 'Egress'];
  return ['Ingress'];
}

export const PerformanceHintSchema = z.enum(['AssumeNeededOnEveryNode']).describe('AssumeNeededOnEveryNode: program the policy on every node even before a local endpoint needs it.');
