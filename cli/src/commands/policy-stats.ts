import { readKubernetesStageCounters, readPolicyCounters, type RuleCounter, type StageCounter } from '../../../felix/src/dataplane/counters.js';
import { NFT_TABLE_FAMILY, NFT_TABLE_NAME } from '../../../lib/contract.js';
import { commandFailureOf, runCommand, type CommandRunner } from '../../../lib/kernel/exec.js';
import type { CommandContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { renderTable } from '../table.js';

/**
 * `tortie policy stats [-o json] [--netns NAME]`: the packet and byte
 * counters of every policy rule in this node's `inet tortie` table
 * (`nft -j list table inet tortie`, summed per policy rule by felix's
 * readPolicyCounters), then those of each endpoint's Kubernetes stage:
 * Kubernetes NetworkPolicies are compiled into one lookup per endpoint and
 * direction, so they count together, as allowed and dropped packets
 * (readKubernetesStageCounters). Needs root (CAP_NET_ADMIN), as nft does.
 *
 * Exit codes: 0; 3 when the table is not there (no policy agent has
 * programmed this node); 1 when nft fails otherwise (the message is nft's).
 */
export const StatsOutputs = ['table', 'json'] as const;
export type StatsOutput = (typeof StatsOutputs)[number];

export interface PolicyStatsFlags {
  output: StatsOutput;
  /** A named network namespace (`ip netns`), for tests and for looking into one. */
  netns?: string;
}

/**
 * Counters as tables: one row per policy rule, policies in id order; then one
 * row per endpoint and direction with a Kubernetes stage. Pure.
 */
export function formatPolicyStats(counters: readonly RuleCounter[], stages: readonly StageCounter[] = []): string {
  if (counters.length === 0 && stages.length === 0) return 'no policy rules are programmed\n';
  const parts: string[] = [];
  if (counters.length > 0) {
    parts.push(renderTable(['POLICY', 'RULE', 'PACKETS', 'BYTES'], counters.map((c) => [c.policyId, String(c.ruleIndex), String(c.packets), String(c.bytes)])));
  }
  if (stages.length > 0) {
    parts.push(
      renderTable(
        ['ENDPOINT', 'DIRECTION', 'K8S-ALLOWED', 'K8S-DROPPED', 'BYTES'],
        stages.map((s) => [s.endpoint, s.direction, String(s.allowed.packets), String(s.dropped.packets), String(s.allowed.bytes + s.dropped.bytes)]),
      ),
    );
  }
  return parts.join('\n');
}

export async function runPolicyStats(ctx: CommandContext, flags: PolicyStatsFlags, run: CommandRunner = runCommand): Promise<ExitCode> {
  if (flags.netns !== undefined && !/^[\w.-]+$/.test(flags.netns)) {
    ctx.stderr(`--netns ${JSON.stringify(flags.netns)}: give the name of a network namespace in /run/netns\n`);
    return ExitCode.InvalidInput;
  }
  let listed: string;
  try {
    listed = await run('nft', ['-j', 'list', 'table', NFT_TABLE_FAMILY, NFT_TABLE_NAME], flags.netns === undefined ? {} : { netns: `/run/netns/${flags.netns}` });
  } catch (err) {
    const stderr = commandFailureOf(err)?.stderr ?? '';
    if (/No such file or directory/.test(stderr)) {
      ctx.stderr(`table ${NFT_TABLE_FAMILY} ${NFT_TABLE_NAME} not found${flags.netns === undefined ? ' on this node' : ` in netns ${flags.netns}`}: the policy agent has not programmed it\n`);
      return ExitCode.Refused;
    }
    ctx.stderr(`${(err as Error).message.trimEnd()}\n`);
    return ExitCode.InvalidInput;
  }
  const parsed = JSON.parse(listed) as unknown;
  const counters = readPolicyCounters(parsed);
  const kubernetesStages = readKubernetesStageCounters(parsed);
  ctx.stdout(flags.output === 'json' ? `${JSON.stringify({ counters, kubernetesStages }, null, 2)}\n` : formatPolicyStats(counters, kubernetesStages));
  return ExitCode.Ok;
}
