import { z } from 'zod';
import { parseCidr } from '../../lib/cidr.js';
import { tortieResource } from './fields/resource.js';

export const IPAMHandleSpecSchema = z
  .strictObject({
    handleID: z.string().min(1).describe('The handle: `<network>.<containerID>` for a pod, or a name for a tunnel address.'),
    block: z
      .record(z.string(), z.int().min(0))
      .describe('Per block CIDR, how many addresses of that block belong to the handle.'),
    deleted: z.boolean().default(false).describe('Set while the handle is being deleted, so a racing writer sees a conflict. [Default: false]'),
  })
  .superRefine((spec, ctx) => {
    for (const cidr of Object.keys(spec.block)) {
      if (parseCidr(cidr) === null) {
        ctx.addIssue({ code: 'custom', path: ['block', cidr], message: `key ${JSON.stringify(cidr)} is not a block CIDR such as 10.244.0.0/26` });
      }
    }
  })
  .describe('The addresses held under one handle, by block.');

export const IPAMHandleSchema = tortieResource(
  'IPAMHandle',
  'Everything allocated under one handle (one pod\'s network attachment), so it can be released exactly. Written by IPAM only.',
  IPAMHandleSpecSchema,
);
export type IPAMHandle = z.output<typeof IPAMHandleSchema>;
export type IPAMHandleInput = z.input<typeof IPAMHandleSchema>;
export type IPAMHandleSpec = IPAMHandle['spec'];
