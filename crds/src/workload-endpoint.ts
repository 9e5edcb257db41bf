import { z } from 'zod';
import { ipField, netField } from './fields/network.js';
import { portNumberField, protocolField } from './fields/port.js';
import { tortieResource } from './fields/resource.js';
import { PortNameSchema } from './endpoint-port.js';

export const WorkloadEndpointPortSchema = z
  .strictObject({
    name: PortNameSchema,
    protocol: protocolField('Protocol of the port: TCP, UDP or SCTP.'),
    port: portNumberField('Container port number.'),
    hostPort: z.int().min(0).max(65535).optional().describe('Host port mapped to this port, 0 or absent for none.'),
    hostIP: z.string().optional().describe('Host address of the host port mapping.'),
  })
  .describe('A named port of the pod.');

export const WorkloadEndpointSpecSchema = z
  .strictObject({
    orchestrator: z.string().optional().describe('The orchestrator that made the workload, e.g. k8s.'),
    workload: z.string().optional().describe('Name of the workload (unused for Kubernetes pods).'),
    node: z.string().describe('Name of the node the endpoint is on.'),
    containerID: z.string().optional().describe('ID of the pod sandbox container.'),
    pod: z.string().optional().describe('Name of the pod.'),
    endpoint: z.string().optional().describe('Name of the endpoint: the interface inside the pod, e.g. eth0.'),
    serviceAccountName: z.string().optional().describe('The pod\'s Kubernetes service account.'),
    ipNetworks: z.array(netField('An address as /32 or /128.')).optional().describe('The pod\'s addresses (/32, /128). Packets from the pod with another source are dropped.'),
    ipNATs: z
      .array(
        z
          .strictObject({
            internalIP: ipField('An address of the endpoint.'),
            externalIP: ipField('The external address mapped to it.'),
          })
          .describe('A 1:1 NAT mapping.'),
      )
      .optional()
      .describe('1:1 NAT mappings to the endpoint.'),
    ipv4Gateway: ipField('IPv4 gateway of the pod.', 4).optional(),
    ipv6Gateway: ipField('IPv6 gateway of the pod.', 6).optional(),
    profiles: z.array(z.string()).optional().describe('Profiles applied after policy (e.g. the namespace and service account profiles).'),
    interfaceName: z.string().max(15).describe('Name of the host-side interface of the pod, e.g. tor1a2b3c4d5e6.'),
    mac: z.string().optional().describe('MAC address of the pod\'s interface.'),
    ports: z.array(WorkloadEndpointPortSchema).optional().describe('Named ports of the pod, which policy rules may refer to by name.'),
    allowSpoofedSourcePrefixes: z.array(netField('A CIDR.')).optional().describe('Source prefixes the pod may send from besides its own addresses.'),
  })
  .describe('A pod\'s network attachment on a node.');

export const WorkloadEndpointSchema = tortieResource(
  'WorkloadEndpoint',
  'A pod\'s network attachment: addresses, host interface, labels and named ports. Written by the CNI plugin.',
  WorkloadEndpointSpecSchema,
);
export type WorkloadEndpoint = z.output<typeof WorkloadEndpointSchema>;
export type WorkloadEndpointInput = z.input<typeof WorkloadEndpointSchema>;
export type WorkloadEndpointSpec = WorkloadEndpoint['spec'];
