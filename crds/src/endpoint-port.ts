import { z } from 'zod';
import { isPortName, portNumberField, protocolField } from './fields/port.js';
import { hint } from './fields/hints.js';

export const PortNameSchema = hint(
  z
    .string()
    .superRefine((text, ctx) => {
      if (!isPortName(text)) {
        ctx.addIssue({
          code: 'custom',
          message: `${JSON.stringify(text)} is not a port name; use at most 15 lower-case letters, digits and single "-", with at least one letter, e.g. http`,
          input: text,
        });
      }
    })
    .describe('Name by which policy rules refer to the port.'),
  'a port name such as http (at most 15 lower-case letters, digits and "-")',
);

/** A named port of a host endpoint. */
export const EndpointPortSchema = z
  .strictObject({
    name: PortNameSchema,
    protocol: protocolField('Protocol of the port: TCP, UDP or SCTP.'),
    port: portNumberField('Port number.'),
  })
  .describe('A named port that policy rules may refer to by name.');
export type EndpointPort = z.output<typeof EndpointPortSchema>;
