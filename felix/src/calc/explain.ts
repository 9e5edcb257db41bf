import { parseIp } from '../../../lib/cidr.js';
import { endpointKey } from '../model/endpoints.js';
import { PROTOCOL_NUMBERS } from '../model/policies.js';
import { calculatePolicy } from './calculate-policy.js';
import { evaluateConnection, type Evaluation } from './evaluate.js';
import type { PolicySnapshot } from './snapshot.js';

/** One end of `tortie policy explain`: a pod as `namespace/name`, or a bare address. */
export type ExplainEnd = string;

export type ExplainResult = { ok: true; evaluation: Evaluation; source: string; destination: string } | { ok: false; error: string };

const EXPLAIN_NODE = '(explain)';

/**
 * `tortie policy explain --from NS/POD --to NS/POD --port 80/TCP`, from a
 * cluster-wide snapshot: both ends are evaluated as their own nodes would
 * (egress where the source runs, ingress where the destination runs), so the
 * answer does not depend on which node asks. Pure.
 */
export function explainConnection(snapshot: PolicySnapshot, from: ExplainEnd, to: ExplainEnd, port: string): ExplainResult {
  const m = /^(\d{1,5})(?:\/(TCP|UDP|SCTP))?$/i.exec(port);
  if (!m || Number(m[1]) > 65535) return { ok: false, error: `--port ${JSON.stringify(port)}: give PORT or PORT/PROTOCOL, e.g. 80/TCP` };
  const protocol = PROTOCOL_NUMBERS[(m[2] ?? 'TCP').toUpperCase()]!;
  const source = addressOf(snapshot, from);
  if (!source.ok) return { ok: false, error: `--from: ${source.error}` };
  const destination = addressOf(snapshot, to);
  if (!destination.ok) return { ok: false, error: `--to: ${destination.error}` };
  // Every endpoint on one node: each end then gets the chains its own node would give it.
  const desired = calculatePolicy({ ...snapshot, nodeName: EXPLAIN_NODE, endpoints: snapshot.endpoints.map((e) => ({ ...e, node: EXPLAIN_NODE })) });
  const evaluation = evaluateConnection(desired, {
    source: source.address,
    destination: destination.address,
    protocol,
    destinationPort: Number(m[1]),
    sourcePort: 40000,
  });
  return { ok: true, evaluation, source: source.address, destination: destination.address };
}

function addressOf(snapshot: PolicySnapshot, end: ExplainEnd): { ok: true; address: string } | { ok: false; error: string } {
  if (parseIp(end) !== null) return { ok: true, address: end };
  const ep = snapshot.endpoints.find((e) => endpointKey(e) === end);
  if (!ep) return { ok: false, error: `no pod ${JSON.stringify(end)} (give namespace/name or an IP address)` };
  const address = ep.ipv4[0] ?? ep.ipv6[0];
  if (address === undefined) return { ok: false, error: `pod ${end} has no address yet` };
  return { ok: true, address };
}
