/**
 * The kubeconfig the CNI plugin uses on the host (pure). It points at a token
 * FILE beside it, never at an embedded token: an embedded service-account
 * token expires and every pod then fails to start until the node agent is
 * restarted (calico#4857, #5712). The CA is embedded: the pod's ca.crt is not
 * on the host, and it does not expire with the token.
 */
import { stringify } from 'yaml';

export interface CniKubeconfigInput {
  /** https://host:port, reachable from the host (the kubernetes Service address, as Calico uses). */
  readonly server: string;
  readonly caPem: string;
  readonly tokenFile: string;
}

export function renderCniKubeconfig(input: CniKubeconfigInput): string {
  const user = {
    // client-go reads tokenFile; @kubernetes/client-node (our plugin) reads token-file.
    tokenFile: input.tokenFile,
    'token-file': input.tokenFile,
  };
  const document = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'local', cluster: { server: input.server, 'certificate-authority-data': Buffer.from(input.caPem, 'utf8').toString('base64') } }],
    users: [{ name: 'tortie-cni', user }],
    contexts: [{ name: 'tortie-cni', context: { cluster: 'local', user: 'tortie-cni' } }],
    'current-context': 'tortie-cni',
  };
  return `# Written by tortie cni install for the tortie CNI plugin; the token is read from tokenFile on every call.\n${stringify(document)}`;
}
