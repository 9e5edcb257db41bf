import { z } from 'zod';
import { asNumberField } from './fields/as-number.js';
import { durationField } from './fields/duration.js';
import { networkCidrField } from './fields/network.js';
import { tortieResource } from './fields/resource.js';
import { BGPPasswordSchema } from './bgp-password.js';

export const DEFAULT_AS_NUMBER = 64512;
export const DEFAULT_BGP_PORT = 179;

const STANDARD_COMMUNITY = /^(\d+):(\d+)$/;
const LARGE_COMMUNITY = /^(\d+):(\d+):(\d+)$/;

/** True for `aa:nn` (both 16-bit) or `aa:nn:mm` (all 32-bit), as RFC 1997 / RFC 8092 define them. */
export function isCommunityValue(text: string): boolean {
  const standard = STANDARD_COMMUNITY.exec(text);
  if (standard !== null) return standard.slice(1).every((p) => Number(p) <= 0xffff);
  const large = LARGE_COMMUNITY.exec(text);
  return large !== null && large.slice(1).every((p) => Number(p) <= 0xffffffff);
}

const communityValueField = z
  .string()
  .superRefine((text, ctx) => {
    if (!isCommunityValue(text)) {
      ctx.addIssue({
        code: 'custom',
        message: `${JSON.stringify(text)} is not a community; write aa:nn (standard, 16-bit parts) or aa:nn:mm (large, 32-bit parts), e.g. 64512:100`,
        input: text,
      });
    }
  })
  .describe('`aa:nn` (standard community, 16-bit parts) or `aa:nn:mm` (large community, 32-bit parts).');

const cidrBlock = (what: string) =>
  z.strictObject({ cidr: networkCidrField(`A CIDR of ${what}.`) }).describe(`A block of ${what}.`);

export const BGPConfigurationSpecSchema = z
  .strictObject({
    logSeverityScreen: z
      .enum(['Debug', 'Info', 'Warning', 'Error', 'Fatal'])
      .default('Info')
      .describe('Log level of the BGP speaker. [Default: Info]'),
    nodeToNodeMeshEnabled: z
      .boolean()
      .default(true)
      .describe('Whether every node peers with every other node (full mesh). Read from the object named "default". [Default: true]'),
    asNumber: asNumberField('The AS number of nodes that do not set their own. Read from the object named "default". [Default: 64512]').default(DEFAULT_AS_NUMBER),
    serviceLoadBalancerIPs: z.array(cidrBlock('Service LoadBalancer IPs')).optional().describe('LoadBalancer ingress IPs within these blocks are advertised.'),
    serviceExternalIPs: z.array(cidrBlock('Service external IPs')).optional().describe('Service external IPs within these blocks are advertised.'),
    serviceClusterIPs: z.array(cidrBlock('Service cluster IPs')).optional().describe('These blocks (and cluster IPs within them) are advertised.'),
    communities: z
      .array(
        z
          .strictObject({
            name: z.string().min(1).describe('Name to refer to this community by in prefixAdvertisements.'),
            value: communityValueField,
          })
          .describe('A named community value.'),
      )
      .optional()
      .describe('Named BGP community values, to be used in prefixAdvertisements.'),
    prefixAdvertisements: z
      .array(
        z
          .strictObject({
            cidr: networkCidrField('A CIDR whose advertisements get these communities.'),
            communities: z.array(z.string()).describe('Community names defined in communities, or values aa:nn / aa:nn:mm.'),
          })
          .describe('Communities to attach to the advertisement of a CIDR.'),
      )
      .optional()
      .describe('Per-prefix advertisement settings.'),
    listenPort: z.int().min(1).max(65535).default(DEFAULT_BGP_PORT).describe('TCP port the BGP speaker listens on. [Default: 179]'),
    nodeMeshPassword: BGPPasswordSchema.optional().describe('Password for the node-to-node mesh sessions.'),
    nodeMeshMaxRestartTime: durationField('Graceful restart time for mesh sessions. [Default: 120s]').optional(),
    bindMode: z
      .enum(['None', 'NodeIP'])
      .optional()
      .describe('None: listen on all addresses; NodeIP: listen only on the node\'s own address. [Default: None]'),
  })
  .superRefine((spec, ctx) => {
    const names = new Set((spec.communities ?? []).map((c) => c.name));
    (spec.prefixAdvertisements ?? []).forEach((adv, i) => {
      adv.communities.forEach((community, j) => {
        if (!names.has(community) && !isCommunityValue(community)) {
          const known = [...names];
          ctx.addIssue({
            code: 'custom',
            path: ['prefixAdvertisements', i, 'communities', j],
            message: `${JSON.stringify(community)} is neither a community defined in spec.communities${known.length > 0 ? ` (${known.join(', ')})` : ''} nor a value aa:nn / aa:nn:mm`,
          });
        }
      });
    });
  })
  .describe('Cluster-wide BGP settings (object "default"), or per-node ones (object "node.<nodename>").');

export const BGPConfigurationSchema = tortieResource(
  'BGPConfiguration',
  'BGP settings: the default AS number, the node-to-node mesh, advertised service ranges and communities.',
  BGPConfigurationSpecSchema.prefault({}),
);
export type BGPConfiguration = z.output<typeof BGPConfigurationSchema>;
export type BGPConfigurationInput = z.input<typeof BGPConfigurationSchema>;
export type BGPConfigurationSpec = BGPConfiguration['spec'];
