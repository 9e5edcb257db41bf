/**
 * Per-policy packet counters from `nft -j list table inet tortie` output
 * (pure: the caller runs nft). Every policy rule carries an anonymous counter
 * and the comment `<policyId> rule <index>` (render/policy-chain.ts); one
 * policy rule can be several nft rules (families, port kinds), so they are
 * summed. This is what `tortie policy stats` prints.
 */
export interface RuleCounter {
  readonly policyId: string;
  readonly ruleIndex: number;
  readonly packets: number;
  readonly bytes: number;
}

const COMMENT = /^(.+) rule (\d+)$/;

export function readPolicyCounters(listed: unknown): RuleCounter[] {
  const sums = new Map<string, { policyId: string; ruleIndex: number; packets: number; bytes: number }>();
  for (const { comment, counter } of countedRules(listed)) {
    const m = COMMENT.exec(comment);
    if (!m || !counter) continue;
    const key = `${m[1]} ${m[2]}`;
    const sum = sums.get(key) ?? { policyId: m[1]!, ruleIndex: Number(m[2]), packets: 0, bytes: 0 };
    sum.packets += counter.packets ?? 0;
    sum.bytes += counter.bytes ?? 0;
    sums.set(key, sum);
  }
  return [...sums.values()].sort((a, b) => (a.policyId < b.policyId ? -1 : a.policyId > b.policyId ? 1 : a.ruleIndex - b.ruleIndex));
}

/**
 * The Kubernetes stage of an endpoint and direction is one set lookup for all
 * of its policies together (calc/kubernetes-stage.ts), so it has no rule per
 * policy to count on. What it counts instead: new connections' packets the
 * endpoint's Kubernetes policies allowed (the lookup rules) and dropped (the
 * stage's drop), summed over the rule's comment `kubernetes <direction>
 * allow|drop <endpoint>` (render/dispatch.ts). Which policy allowed a given
 * packet is what `tortie policy explain` answers.
 */
export interface StageCounter {
  readonly endpoint: string;
  readonly direction: 'ingress' | 'egress';
  readonly allowed: { readonly packets: number; readonly bytes: number };
  readonly dropped: { readonly packets: number; readonly bytes: number };
}

const STAGE_COMMENT = /^kubernetes (ingress|egress) (allow|drop) (.+)$/;

export function readKubernetesStageCounters(listed: unknown): StageCounter[] {
  const sums = new Map<string, { endpoint: string; direction: 'ingress' | 'egress'; allowed: { packets: number; bytes: number }; dropped: { packets: number; bytes: number } }>();
  for (const { comment, counter } of countedRules(listed)) {
    const m = STAGE_COMMENT.exec(comment);
    if (!m) continue;
    const direction = m[1] as 'ingress' | 'egress';
    const key = `${m[3]} ${direction}`;
    const sum = sums.get(key) ?? { endpoint: m[3]!, direction, allowed: { packets: 0, bytes: 0 }, dropped: { packets: 0, bytes: 0 } };
    const into = m[2] === 'allow' ? sum.allowed : sum.dropped;
    into.packets += counter?.packets ?? 0;
    into.bytes += counter?.bytes ?? 0;
    sums.set(key, sum);
  }
  return [...sums.values()].sort((a, b) => (a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : a.direction < b.direction ? -1 : a.direction > b.direction ? 1 : 0));
}

/** The listed rules that carry a comment, with their counter (null when the rule has none). */
function* countedRules(listed: unknown): Generator<{ comment: string; counter: { packets?: number; bytes?: number } | null }> {
  const items = (listed as { nftables?: unknown[] } | null)?.nftables ?? [];
  for (const item of items) {
    const r = (item as { rule?: { comment?: unknown; expr?: unknown[] } }).rule;
    if (!r || typeof r.comment !== 'string') continue;
    const counter = (r.expr ?? []).map((e) => (e as { counter?: { packets?: number; bytes?: number } }).counter).find((c) => c !== undefined && c !== null);
    yield { comment: r.comment, counter: counter ?? null };
  }
}
