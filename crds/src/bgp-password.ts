import { z } from 'zod';

/** A BGP password (TCP-MD5), taken from a Secret in the node agent's namespace. */
export const BGPPasswordSchema = z
  .strictObject({
    secretKeyRef: z
      .strictObject({
        name: z.string().min(1).describe('Name of the Secret.'),
        key: z.string().min(1).describe('Key within the Secret whose value is the password.'),
        optional: z.boolean().optional().describe('When true, a missing Secret or key means no password instead of an error.'),
      })
      .describe('Selects a key of a Secret in the node agent\'s namespace.'),
  })
  .describe('BGP session password (TCP-MD5 signature option).');
export type BGPPassword = z.output<typeof BGPPasswordSchema>;
