import { z } from 'zod';
import { parseCidr } from '../../lib/cidr.js';
import { networkCidrField } from './fields/network.js';
import { tortieResource } from './fields/resource.js';
import { selectorField } from './fields/selector.js';

export const EncapsulationModeSchema = z.enum(['Always', 'CrossSubnet', 'Never']);
export type EncapsulationMode = z.output<typeof EncapsulationModeSchema>;

export const DEFAULT_BLOCK_SIZE_IPV4 = 26;
export const DEFAULT_BLOCK_SIZE_IPV6 = 122;
/** Block sizes Calico accepts: a block is /20–/32 in IPv4 and /116–/128 in IPv6. */
export const BLOCK_SIZE_RANGE = { 4: { min: 20, max: 32 }, 6: { min: 116, max: 128 } } as const;

export const IPPoolSpecSchema = z
  .strictObject({
    cidr: networkCidrField('The pool CIDR: pod addresses are taken from it, block by block. Must be a network address (host bits zero).'),
    blockSize: z
      .int()
      .optional()
      .describe('Prefix length of the blocks the pool is split into; each node claims whole blocks. IPv4 20–32, IPv6 116–128, and not shorter than the pool. [Default: 26 for IPv4, 122 for IPv6]'),
    ipipMode: EncapsulationModeSchema.default('Never').describe(
      'IP-in-IP encapsulation of pod traffic between nodes: Always, CrossSubnet (only to nodes on another subnet), or Never. [Default: Never]',
    ),
    vxlanMode: EncapsulationModeSchema.default('Never').describe(
      'VXLAN encapsulation of pod traffic between nodes: Always, CrossSubnet (only to nodes on another subnet), or Never. [Default: Never]',
    ),
    natOutgoing: z.boolean().default(false).describe('Masquerade traffic from pods in this pool to destinations outside every pool. [Default: false]'),
    disabled: z.boolean().default(false).describe('When true, IPAM assigns no new addresses from this pool. [Default: false]'),
    disableBGPExport: z.boolean().default(false).describe('When true, routes for this pool are not exported over BGP. [Default: false]'),
    nodeSelector: selectorField('Selects the nodes that may take addresses from this pool. [Default: all()]').default('all()'),
    allowedUses: z
      .array(z.enum(['Workload', 'Tunnel']))
      .default(['Workload', 'Tunnel'])
      .describe('What the pool\'s addresses may be used for: Workload (pods), Tunnel (tunnel device addresses). [Default: [Workload, Tunnel]]'),
  })
  .superRefine((spec, ctx) => {
    const pool = parseCidr(spec.cidr);
    if (pool !== null && spec.blockSize !== undefined) {
      const range = BLOCK_SIZE_RANGE[pool.family];
      const def = pool.family === 4 ? DEFAULT_BLOCK_SIZE_IPV4 : DEFAULT_BLOCK_SIZE_IPV6;
      if (spec.blockSize < range.min || spec.blockSize > range.max) {
        ctx.addIssue({
          code: 'custom',
          path: ['blockSize'],
          message: `${spec.blockSize} is outside ${range.min}–${range.max} for IPv${pool.family}; use ${def}`,
          input: spec.blockSize,
        });
      } else if (spec.blockSize < pool.prefixLength) {
        ctx.addIssue({
          code: 'custom',
          path: ['blockSize'],
          message: `blockSize ${spec.blockSize} is larger than the pool /${pool.prefixLength}; use a blockSize from ${Math.max(pool.prefixLength, range.min)} to ${range.max}`,
          input: spec.blockSize,
        });
      }
    }
    if (pool !== null && spec.blockSize === undefined && pool.family === 4 && pool.prefixLength > DEFAULT_BLOCK_SIZE_IPV4) {
      ctx.addIssue({
        code: 'custom',
        path: ['blockSize'],
        message: `the default blockSize ${DEFAULT_BLOCK_SIZE_IPV4} is larger than the pool /${pool.prefixLength}; set blockSize from ${pool.prefixLength} to 32`,
      });
    }
    if (pool !== null && spec.blockSize === undefined && pool.family === 6 && pool.prefixLength > DEFAULT_BLOCK_SIZE_IPV6) {
      ctx.addIssue({
        code: 'custom',
        path: ['blockSize'],
        message: `the default blockSize ${DEFAULT_BLOCK_SIZE_IPV6} is larger than the pool /${pool.prefixLength}; set blockSize from ${pool.prefixLength} to 128`,
      });
    }
    if (spec.ipipMode !== 'Never' && spec.vxlanMode !== 'Never') {
      ctx.addIssue({
        code: 'custom',
        path: ['vxlanMode'],
        message: `ipipMode is ${spec.ipipMode} and vxlanMode is ${spec.vxlanMode}; a pool uses one encapsulation, so set one of them to Never`,
      });
    }
    if (pool !== null && pool.family === 6 && spec.ipipMode !== 'Never') {
      ctx.addIssue({
        code: 'custom',
        path: ['ipipMode'],
        message: `ipipMode ${spec.ipipMode} is IPv4 only and ${spec.cidr} is IPv6; use ipipMode: Never (vxlanMode works for IPv6)`,
      });
    }
  })
  .transform((spec) => {
    const family = parseCidr(spec.cidr)?.family ?? 4;
    return { ...spec, blockSize: spec.blockSize ?? (family === 6 ? DEFAULT_BLOCK_SIZE_IPV6 : DEFAULT_BLOCK_SIZE_IPV4) };
  })
  .describe('An IP pool: a range of pod addresses, how it is split into blocks, and how traffic to it is carried.');

export const IPPoolSchema = tortieResource('IPPool', 'A range of addresses that IPAM assigns to pods, block by block.', IPPoolSpecSchema);
export type IPPool = z.output<typeof IPPoolSchema>;
export type IPPoolInput = z.input<typeof IPPoolSchema>;
export type IPPoolSpec = IPPool['spec'];
