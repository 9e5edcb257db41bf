import { parseIp } from '../../../lib/cidr.js';
import type { Datastore } from '../../../lib/datastore/types.js';
import type { Decision, Evaluation } from '../../../felix/src/calc/evaluate.js';
import { explainConnection } from '../../../felix/src/calc/explain.js';
import { snapshotFromResources, snapshotKinds, type ListedResources, type SkippedResource } from '../../../felix/src/calc/snapshot-from-resources.js';
import type { PolicySnapshot } from '../../../felix/src/calc/snapshot.js';
import { endpointKey } from '../../../felix/src/model/endpoints.js';
import type { CommandContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';

/**
 * `tortie policy explain --from NS/POD --to NS/POD --port 80/TCP [-o json]`:
 * which policies select each end (egress at the source, ingress at the
 * destination), which rule decides, and the verdict, from the datastore's
 * state evaluated as the policy agent computes it (felix calculatePolicy +
 * evaluateConnection over the same kinds and converters as its loop).
 *
 * Exit codes: 0 for either verdict; 1 for a malformed --from/--to/--port
 * (the message names it); 3 when a pod is not found (or has no address yet).
 */
export const ExplainOutputs = ['text', 'json'] as const;
export type ExplainOutput = (typeof ExplainOutputs)[number];

export interface PolicyExplainFlags {
  from: string;
  to: string;
  port: string;
  output: ExplainOutput;
}

const DNS_LABEL = '[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?';
const POD_REF = new RegExp(`^${DNS_LABEL}/${DNS_LABEL}$`);
const PORT = /^(\d{1,5})(?:\/(TCP|UDP|SCTP))?$/i;

export type ExplainEndArg = { kind: 'pod'; name: string } | { kind: 'address'; address: string };

/** `--from`/`--to`: NAMESPACE/POD or an IP address. Pure. */
export function parseExplainEnd(flag: '--from' | '--to', value: string): { ok: true; end: ExplainEndArg } | { ok: false; error: string } {
  if (parseIp(value) !== null) return { ok: true, end: { kind: 'address', address: value } };
  if (POD_REF.test(value)) return { ok: true, end: { kind: 'pod', name: value } };
  return { ok: false, error: `${flag} ${JSON.stringify(value)}: give NAMESPACE/POD (such as default/web-0) or an IP address` };
}

/** `--port`: PORT or PORT/PROTOCOL (TCP, UDP, SCTP; TCP when absent). Pure. */
export function parseExplainPort(value: string): { ok: true; port: number; protocol: 'TCP' | 'UDP' | 'SCTP' } | { ok: false; error: string } {
  const m = PORT.exec(value);
  const port = Number(m?.[1]);
  if (!m || port < 1 || port > 65535) return { ok: false, error: `--port ${JSON.stringify(value)}: give PORT or PORT/PROTOCOL with a port 1-65535 and TCP, UDP or SCTP, such as 80/TCP` };
  return { ok: true, port, protocol: (m[2] ?? 'TCP').toUpperCase() as 'TCP' | 'UDP' | 'SCTP' };
}

/** One step of the walk, as `-o json` prints it. */
export type ExplainStep =
  | { kind: 'rule'; stage: string; policy: string; ruleIndex: number; action: 'allow' | 'deny' | 'pass' | 'log' }
  | { kind: 'end-of-stage'; stage: string; policies: string[]; action: 'deny' }
  | { kind: 'no-policy' | 'all-passed'; action: 'allow' | 'deny' }
  | { kind: 'anti-spoofing'; action: 'deny' };

export interface ExplainSide {
  /** The pod at this end, or null when the address is no pod's (nothing filters this direction). */
  endpoint: string | null;
  /** Policies that select the endpoint for this direction, in evaluation order. */
  policies: string[];
  /** Every step of the walk (log and pass included); the last one decided. Empty when not evaluated. */
  steps: ExplainStep[];
  /** The step that decided this direction; null when the direction was not evaluated. */
  decidedBy: ExplainStep | null;
  /** allow / deny for this direction; `not-evaluated` when egress already denied, `not-filtered` for a non-pod end. */
  result: 'allow' | 'deny' | 'not-evaluated' | 'not-filtered';
}

export interface Explanation {
  from: { name: string; address: string };
  to: { name: string; address: string };
  port: number;
  protocol: string;
  egress: ExplainSide;
  ingress: ExplainSide;
  verdict: 'allow' | 'deny';
}

function stepOf(d: Decision): ExplainStep {
  switch (d.kind) {
    case 'rule':
      return { kind: 'rule', stage: d.stage, policy: d.policyId, ruleIndex: d.ruleIndex, action: d.action };
    case 'end-of-stage':
      return { kind: 'end-of-stage', stage: d.stage, policies: [...d.policies], action: 'deny' };
    case 'fallthrough':
      return { kind: d.hadPolicies ? 'all-passed' : 'no-policy', action: d.action === 'allow' ? 'allow' : 'deny' };
    case 'anti-spoofing':
      return { kind: 'anti-spoofing', action: 'deny' };
  }
}

/** The evaluator's answer arranged by direction. Pure. */
export function explanationOf(e: Evaluation, ends: { from: { name: string; address: string }; to: { name: string; address: string } }, port: number, protocol: string): Explanation {
  const side = (direction: 'egress' | 'ingress', endpoint: string | null, policies: readonly string[]): ExplainSide => {
    const steps = e.decidedBy.filter((d) => d.direction === direction).map(stepOf);
    const decidedBy = steps.at(-1) ?? null;
    let result: ExplainSide['result'];
    if (endpoint === null) result = 'not-filtered';
    else if (decidedBy === null) result = 'not-evaluated';
    else result = decidedBy.action === 'allow' ? 'allow' : 'deny';
    return { endpoint, policies: [...policies], steps, decidedBy: endpoint === null ? null : decidedBy, result };
  };
  return {
    from: ends.from,
    to: ends.to,
    port,
    protocol,
    egress: side('egress', e.source?.endpoint ?? null, e.source?.egressPolicies ?? []),
    ingress: side('ingress', e.destination?.endpoint ?? null, e.destination?.ingressPolicies ?? []),
    verdict: e.verdict,
  };
}

function describeStep(s: ExplainStep): string {
  switch (s.kind) {
    case 'rule':
      return `${s.policy} rule ${s.ruleIndex} matches: ${s.action}`;
    case 'end-of-stage':
      return `no rule of ${s.policies.join(', ')} matches: end of the ${s.stage} policies, deny`;
    case 'no-policy':
      return `no policy selects it: ${s.action}`;
    case 'all-passed':
      return `every policy stage passed: ${s.action}`;
    case 'anti-spoofing':
      return 'the source address is not the pod\'s (anti-spoofing): deny';
  }
}

const KIND_LEGEND: [string, string][] = [
  ['knp/', 'knp = Kubernetes NetworkPolicy'],
  ['np/', 'np = tortie NetworkPolicy'],
  ['gnp/', 'gnp = tortie GlobalNetworkPolicy'],
];

/** The readable layout. Pure. */
export function formatExplanation(x: Explanation): string {
  const end = (e: { name: string; address: string }) => (e.name === e.address ? e.address : `${e.name} (${e.address})`);
  const lines = [`Connection: ${end(x.from)} -> ${end(x.to)} port ${x.port}/${x.protocol}`, ''];
  const section = (title: string, s: ExplainSide, notReached: string) => {
    lines.push(title);
    if (s.endpoint === null) {
      lines.push('  not a pod: no policy filters this direction');
      return;
    }
    lines.push(`  selected by: ${s.policies.length === 0 ? '(none)' : s.policies.join(', ')}`);
    if (s.result === 'not-evaluated') {
      lines.push(`  not evaluated: ${notReached}`);
      return;
    }
    for (const step of s.steps.slice(0, -1)) lines.push(`  then:        ${describeStep(step)}`);
    if (s.decidedBy !== null) lines.push(`  decided by:  ${describeStep(s.decidedBy)}`);
  };
  section(`Egress at the source${x.egress.endpoint === null ? '' : ` ${x.egress.endpoint}`}:`, x.egress, '');
  section(`Ingress at the destination${x.ingress.endpoint === null ? '' : ` ${x.ingress.endpoint}`}:`, x.ingress, 'egress already denied the connection');
  lines.push('', `Verdict: ${x.verdict === 'allow' ? 'ALLOW' : 'DENY'}`);
  const named = [x.egress, x.ingress].flatMap((s) => [...s.policies, ...s.steps.flatMap((t) => ('policy' in t ? [t.policy] : 'policies' in t ? t.policies : []))]);
  const legend = KIND_LEGEND.filter(([prefix]) => named.some((p) => p.startsWith(prefix))).map(([, text]) => text);
  if (legend.length > 0) lines.push(`(${legend.join('; ')})`);
  return `${lines.join('\n')}\n`;
}

/** Lists what the policy agent watches and builds the cluster-wide snapshot. */
export async function loadPolicySnapshot(datastore: Datastore): Promise<{ snapshot: PolicySnapshot; skipped: SkippedResource[] }> {
  const listed: ListedResources[] = [];
  for (const kind of snapshotKinds(datastore.type)) listed.push({ kind, items: (await datastore.list(kind)).items });
  return snapshotFromResources(datastore.type, listed);
}

export async function runPolicyExplain(ctx: CommandContext, flags: PolicyExplainFlags): Promise<ExitCode> {
  const from = parseExplainEnd('--from', flags.from);
  const to = parseExplainEnd('--to', flags.to);
  const port = parseExplainPort(flags.port);
  const problems = [from, to, port].flatMap((r) => (r.ok ? [] : [r.error]));
  if (problems.length > 0 || !from.ok || !to.ok || !port.ok) {
    ctx.stderr(problems.map((p) => `${p}\n`).join(''));
    return ExitCode.InvalidInput;
  }
  const { snapshot, skipped } = await loadPolicySnapshot(await ctx.datastore());
  for (const s of skipped) ctx.stderr(`warning: ${s.kind} ${s.name} is ignored, as the policy agent ignores it: ${s.reason.split('\n')[0]}\n`);

  const missing: string[] = [];
  const ends: { name: string; address: string }[] = [];
  for (const [flag, e] of [['--from', from.end], ['--to', to.end]] as const) {
    if (e.kind === 'address') {
      ends.push({ name: e.address, address: e.address });
      continue;
    }
    const ep = snapshot.endpoints.find((x) => endpointKey(x) === e.name);
    const address = ep?.ipv4[0] ?? ep?.ipv6[0];
    if (ep === undefined) missing.push(`${flag}: pod ${e.name} not found`);
    else if (address === undefined) missing.push(`${flag}: pod ${e.name} has no address yet`);
    else ends.push({ name: e.name, address });
  }
  if (missing.length > 0) {
    ctx.stderr(missing.map((m) => `${m}\n`).join(''));
    return ExitCode.Refused;
  }
  const [source, destination] = ends as [{ name: string; address: string }, { name: string; address: string }];
  const r = explainConnection(snapshot, source.address, destination.address, `${port.port}/${port.protocol}`);
  if (!r.ok) {
    ctx.stderr(`${r.error}\n`);
    return ExitCode.InvalidInput;
  }
  const x = explanationOf(r.evaluation, { from: source, to: destination }, port.port, port.protocol);
  ctx.stdout(flags.output === 'json' ? `${JSON.stringify(x, null, 2)}\n` : formatExplanation(x));
  return ExitCode.Ok;
}
