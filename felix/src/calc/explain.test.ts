import { describe, expect, it } from 'vitest';
import { explainConnection } from './explain.js';
import { SCENARIOS } from './scenarios.test-helpers.js';

const mixed = SCENARIOS['mixed']!;

describe('explainConnection', () => {
  it('evaluates the egress of a pod on another node too', () => {
    // web-2 runs on node2; the web policy limits its egress to db on pg/5433 and UDP 53.
    const r = explainConnection(mixed, 'prod/web-2', 'dev/tool-1', '80/TCP');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.evaluation.verdict).toBe('deny');
    expect(r.evaluation.decidedBy.at(-1)).toMatchObject({ direction: 'egress', endpoint: 'prod/web-2', kind: 'end-of-stage', stage: 'tortie' });
  });

  it('names the deciding rule', () => {
    const r = explainConnection(mixed, 'prod/web-2', 'prod/db-1', '5432');
    expect(r.ok && r.evaluation.verdict).toBe('allow');
    expect(r.ok && r.evaluation.decidedBy.at(-1)).toMatchObject({ direction: 'ingress', policyId: 'knp/prod/db-from-web', ruleIndex: 0 });
  });

  it('takes a bare address for an end outside the cluster', () => {
    const r = explainConnection(mixed, '198.51.100.7', 'prod/web-1', '8080/tcp');
    expect(r.ok && r.evaluation.decidedBy.at(-1)).toMatchObject({ policyId: 'gnp/edge', ruleIndex: 0, action: 'deny' });
  });

  it.each([
    ['prod/nope', 'prod/web-1', '80', /--from: no pod "prod\/nope"/],
    ['prod/web-1', 'prod/db-1', '80/ICMP', /--port/],
    ['prod/web-1', 'prod/db-1', '70000', /--port/],
  ])('refuses %s -> %s port %s', (from, to, port, message) => {
    const r = explainConnection(mixed, from, to, port);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(message);
  });
});
