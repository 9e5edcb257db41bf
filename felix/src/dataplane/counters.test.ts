import { describe, expect, it } from 'vitest';
import { readKubernetesStageCounters, readPolicyCounters } from './counters.js';

describe('readPolicyCounters', () => {
  it('sums the nft rules of one policy rule and ignores rules without a policy comment', () => {
    const listed = {
      nftables: [
        { metainfo: { version: '1.0.6' } },
        { rule: { chain: 'pi-np/x/a', comment: 'np/x/a rule 0', expr: [{ match: {} }, { counter: { packets: 3, bytes: 180 } }, { accept: null }] } },
        { rule: { chain: 'pi-np/x/a', comment: 'np/x/a rule 0', expr: [{ counter: { packets: 1, bytes: 80 } }, { accept: null }] } },
        { rule: { chain: 'pi-np/x/a', comment: 'np/x/a rule 1', expr: [{ counter: { packets: 0, bytes: 0 } }, { drop: null }] } },
        { rule: { chain: 'forward', comment: 'conntrack invalid', expr: [{ drop: null }] } },
        { rule: { chain: 'pi-gnp/g', comment: 'gnp/g rule 0', expr: [{ counter: { packets: 7, bytes: 700 } }] } },
      ],
    };
    expect(readPolicyCounters(listed)).toEqual([
      { policyId: 'gnp/g', ruleIndex: 0, packets: 7, bytes: 700 },
      { policyId: 'np/x/a', ruleIndex: 0, packets: 4, bytes: 260 },
      { policyId: 'np/x/a', ruleIndex: 1, packets: 0, bytes: 0 },
    ]);
  });

  it('reads nothing from nothing', () => {
    expect(readPolicyCounters(null)).toEqual([]);
    expect(readPolicyCounters({ nftables: [] })).toEqual([]);
  });
});

describe('readKubernetesStageCounters', () => {
  it('sums the allow lookups and the drop of each endpoint and direction', () => {
    const listed = {
      nftables: [
        { rule: { chain: 'tw-a', comment: 'kubernetes ingress allow x/a', expr: [{ match: {} }, { counter: { packets: 2, bytes: 120 } }, { accept: null }] } },
        { rule: { chain: 'tw-a', comment: 'kubernetes ingress allow x/a', expr: [{ match: {} }, { counter: { packets: 1, bytes: 60 } }, { accept: null }] } },
        { rule: { chain: 'tw-a', comment: 'kubernetes ingress drop x/a', expr: [{ counter: { packets: 5, bytes: 300 } }, { drop: null }] } },
        { rule: { chain: 'fw-a', comment: 'kubernetes egress drop x/a', expr: [{ counter: { packets: 0, bytes: 0 } }, { drop: null }] } },
        { rule: { chain: 'pi-np/x/a', comment: 'np/x/a rule 0', expr: [{ counter: { packets: 3, bytes: 180 } }] } },
      ],
    };
    expect(readKubernetesStageCounters(listed)).toEqual([
      { endpoint: 'x/a', direction: 'egress', allowed: { packets: 0, bytes: 0 }, dropped: { packets: 0, bytes: 0 } },
      { endpoint: 'x/a', direction: 'ingress', allowed: { packets: 3, bytes: 180 }, dropped: { packets: 5, bytes: 300 } },
    ]);
    expect(readPolicyCounters(listed)).toEqual([{ policyId: 'np/x/a', ruleIndex: 0, packets: 3, bytes: 180 }]);
  });
});
