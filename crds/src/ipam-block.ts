import { z } from 'zod';
import { parseCidr } from '../../lib/cidr.js';
import { networkCidrField } from './fields/network.js';
import { tortieResource } from './fields/resource.js';

export const AFFINITY_PATTERN = /^(host|virtual):[a-zA-Z0-9.\-_]+$/;

/** The affinity string of a block owned by a node: `host:<node>`. */
export function hostAffinity(node: string): string {
  return `host:${node}`;
}

/** The node of a `host:<node>` affinity, or null. */
export function affinityNode(affinity: string | null | undefined): string | null {
  return affinity?.startsWith('host:') === true ? affinity.slice('host:'.length) : null;
}

/** Largest block (in addresses) whose allocation arrays we accept: a /116 in IPv6, a /20 in IPv4. */
const MAX_BLOCK_ADDRESSES = 4096;

export const AllocationAttributeSchema = z
  .strictObject({
    handle_id: z.string().nullable().optional().describe('The IPAM handle the allocation belongs to (`<network>.<containerID>`).'),
    secondary: z.record(z.string(), z.string()).nullable().optional().describe('Attributes of the owner: namespace, pod, node, timestamp.'),
    alternate: z.record(z.string(), z.string()).nullable().optional().describe('Attributes of a second owner during live migration.'),
  })
  .describe('Who an allocation belongs to.');
export type AllocationAttribute = z.output<typeof AllocationAttributeSchema>;

export const IPAMBlockSpecSchema = z
  .strictObject({
    cidr: networkCidrField('The block\'s CIDR.'),
    affinity: z
      .string()
      .regex(AFFINITY_PATTERN)
      .nullable()
      .optional()
      .describe('The node that owns the block, "host:<node>"; absent when the block has no owner.'),
    affinityClaimTime: z.string().nullable().optional().describe('When the affinity was claimed (RFC 3339).'),
    strictAffinity: z.boolean().default(false).describe('Deprecated in Calico; kept for compatibility. [Default: false]'),
    allocations: z
      .array(z.int().min(0).nullable())
      .describe('One entry per address of the block, in order: null when free, else the index of its entry in attributes.'),
    unallocated: z.array(z.int().min(0)).describe('Ordinals of the free addresses, in the order they will be handed out.'),
    attributes: z.array(AllocationAttributeSchema).describe('Owners of allocations, referred to by index from allocations.'),
    sequenceNumber: z.int().min(0).default(0).describe('Incremented on every write of the block. [Default: 0]'),
    sequenceNumberForAllocation: z
      .record(z.string(), z.int().min(0))
      .optional()
      .describe('Per ordinal (as a string), the sequenceNumber when it was allocated; guards a release against a re-allocation.'),
    deleted: z.boolean().default(false).describe('Set while the block is being deleted, so a racing writer sees a conflict. [Default: false]'),
  })
  .superRefine((spec, ctx) => {
    const block = parseCidr(spec.cidr);
    if (block === null) return;
    const hostBits = (block.family === 4 ? 32 : 128) - block.prefixLength;
    const size = hostBits > 12 ? Number.POSITIVE_INFINITY : 2 ** hostBits;
    if (size > MAX_BLOCK_ADDRESSES) {
      ctx.addIssue({ code: 'custom', path: ['cidr'], message: `a block of /${block.prefixLength} is too large; blocks hold at most ${MAX_BLOCK_ADDRESSES} addresses` });
      return;
    }
    if (spec.allocations.length !== size) {
      ctx.addIssue({
        code: 'custom',
        path: ['allocations'],
        message: `has ${spec.allocations.length} entries but a /${block.prefixLength} block has ${size} addresses; there must be one entry per address`,
      });
    }
    spec.allocations.forEach((attr, i) => {
      if (attr !== null && attr >= spec.attributes.length) {
        ctx.addIssue({ code: 'custom', path: ['allocations', i], message: `refers to attributes[${attr}] but there are ${spec.attributes.length} attributes` });
      }
    });
    spec.unallocated.forEach((ordinal, i) => {
      if (ordinal >= size) {
        ctx.addIssue({ code: 'custom', path: ['unallocated', i], message: `ordinal ${ordinal} is outside the block (0–${size - 1})` });
      } else if (spec.allocations[ordinal] !== null && spec.allocations[ordinal] !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['unallocated', i], message: `ordinal ${ordinal} is listed as free but allocations[${ordinal}] is in use` });
      }
    });
  })
  .describe('A block of a pool: which addresses are in use, and by whom.');

export const IPAMBlockSchema = tortieResource(
  'IPAMBlock',
  'An IPAM block: a slice of a pool, normally owned by one node, with its allocations. Written by IPAM only.',
  IPAMBlockSpecSchema,
);
export type IPAMBlock = z.output<typeof IPAMBlockSchema>;
export type IPAMBlockInput = z.input<typeof IPAMBlockSchema>;
export type IPAMBlockSpec = IPAMBlock['spec'];
