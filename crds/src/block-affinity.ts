import { z } from 'zod';
import { networkCidrField } from './fields/network.js';
import { ObjectNameSchema } from './fields/metadata.js';
import { tortieResource } from './fields/resource.js';

export const BlockAffinityStateSchema = z
  .enum(['confirmed', 'pending', 'pendingDeletion'])
  .describe('pending: claimed, block not yet written; confirmed: the node owns the block; pendingDeletion: being released.');
export type BlockAffinityState = z.output<typeof BlockAffinityStateSchema>;

export const BlockAffinitySpecSchema = z
  .strictObject({
    state: BlockAffinityStateSchema,
    node: ObjectNameSchema.describe('The node that claims the block.'),
    cidr: networkCidrField('The block\'s CIDR.'),
    deleted: z.boolean().default(false).describe('Set while the affinity is being deleted, so a racing writer sees a conflict. [Default: false]'),
  })
  .describe('A node\'s claim on a block.');

export const BlockAffinitySchema = tortieResource(
  'BlockAffinity',
  'A node\'s claim on an IPAM block. Written by IPAM only.',
  BlockAffinitySpecSchema,
);
export type BlockAffinity = z.output<typeof BlockAffinitySchema>;
export type BlockAffinityInput = z.input<typeof BlockAffinitySchema>;
export type BlockAffinitySpec = BlockAffinity['spec'];
