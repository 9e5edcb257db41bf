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
  const items = (listed as { nftables?: unknown[] } | null)?.nftables ?? [];
  for (const item of items) {
    const r = (item as { rule?: { comment?: unknown; expr?: unknown[] } }).rule;
    if (!r || typeof r.comment !== 'string') continue;
    const m = COMMENT.exec(r.comment);
    if (!m) continue;
    const counter = (r.expr ?? []).map((e) => (e as { counter?: { packets?: number; bytes?: number } }).counter).find((c) => c !== undefined && c !== null);
    if (!counter) continue;
    const key = `${m[1]} ${m[2]}`;
    const sum = sums.get(key) ?? { policyId: m[1]!, ruleIndex: Number(m[2]), packets: 0, bytes: 0 };
    sum.packets += counter.packets ?? 0;
    sum.bytes += counter.bytes ?? 0;
    sums.set(key, sum);
  }
  return [...sums.values()].sort((a, b) => (a.policyId < b.policyId ? -1 : a.policyId > b.policyId ? 1 : a.ruleIndex - b.ruleIndex));
}
