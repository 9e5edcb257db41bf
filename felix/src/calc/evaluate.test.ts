import { describe, expect, it } from 'vitest';
import { calculatePolicy } from './calculate-policy.js';
import { evaluateConnection, formatEvaluation, type Probe } from './evaluate.js';
import { SCENARIOS } from './scenarios.test-helpers.js';

const desired = calculatePolicy(SCENARIOS['mixed']!);
const WEB1 = '10.65.0.2';
const WEB2 = '10.65.1.2';
const DB1 = '10.65.0.3';
const TOOL1 = '10.65.0.4';
const tcp = (source: string, destination: string, destinationPort: number): Probe => ({ source, destination, protocol: 6, destinationPort, sourcePort: 40000 });

describe('evaluateConnection (tortie policy explain)', () => {
  it.each([
    ['web egress to db on its named port pg, db ingress allowed by a Kubernetes policy', tcp(WEB1, DB1, 5432), 'allow', { kind: 'rule', policyId: 'knp/prod/db-from-web', direction: 'ingress' }],
    ['web egress to db on a port not allowed ends the tortie stage', tcp(WEB1, DB1, 5431), 'deny', { kind: 'end-of-stage', stage: 'tortie', direction: 'egress' }],
    ['tool (another namespace, team b) to web:8080 is allowed by the namespaced policy', tcp(TOOL1, WEB1, 8080), 'allow', { kind: 'rule', policyId: 'np/prod/web', ruleIndex: 1 }],
    ['tool to web on a notPort is denied at the end of the tortie stage', tcp(TOOL1, WEB1, 9090), 'deny', { kind: 'end-of-stage', stage: 'tortie' }],
    ['a blocked net is denied by the global policy first', tcp('198.51.100.7', TOOL1, 80), 'deny', { kind: 'rule', policyId: 'gnp/edge', ruleIndex: 0, action: 'deny' }],
    ['corp passes to the Kubernetes stage, which allows its http named port', tcp('192.168.100.9', WEB1, 8080), 'allow', { kind: 'rule', policyId: 'knp/prod/web-from-corp' }],
    ['corp outside the ipBlock except-range... inside except is denied', tcp('192.168.100.200', WEB1, 8080), 'deny', { kind: 'end-of-stage', stage: 'kubernetes' }],
    ['corp passes but db is isolated by default-deny', tcp('192.168.100.9', DB1, 5432), 'deny', { kind: 'end-of-stage', stage: 'kubernetes' }],
    ['remote web (node2) to db: only db ingress is ours, and it allows', tcp(WEB2, DB1, 5432), 'allow', { kind: 'rule', policyId: 'knp/prod/db-from-web' }],
    ['ping allowed by ICMP type/code', { source: TOOL1, destination: WEB1, protocol: 1, icmp: { type: 8, code: 0 } }, 'allow', { kind: 'rule', policyId: 'gnp/edge', ruleIndex: 3 }],
    ['other ICMP denied by notICMP', { source: TOOL1, destination: WEB1, protocol: 1, icmp: { type: 3, code: 1 } }, 'deny', { kind: 'rule', policyId: 'gnp/edge', ruleIndex: 5 }],
    ['no local endpoint on either side: allowed, nothing decided', tcp('1.1.1.1', '8.8.8.8', 53), 'allow', undefined],
  ] as const)('%s', (_name, probe, verdict, last) => {
    const r = evaluateConnection(desired, probe);
    expect(r.verdict).toBe(verdict);
    if (last === undefined) expect(r.decidedBy).toEqual([]);
    else expect(r.decidedBy.at(-1)).toMatchObject(last);
  });

  it('logs and goes on for a Log rule', () => {
    const r = evaluateConnection(desired, tcp(TOOL1, DB1, 22));
    expect(r.decidedBy.map((d) => d.kind === 'rule' && d.action)).toContain('log');
    expect(r.verdict).toBe('deny');
  });

  it('answers for IPv6 with the IPv6 sets', () => {
    expect(evaluateConnection(desired, { source: '2001:db8:bad::1', destination: 'fd00::2', protocol: 6, destinationPort: 8080 }).decidedBy.at(-1)).toMatchObject({
      kind: 'rule',
      policyId: 'gnp/edge',
      ruleIndex: 0,
    });
  });

  it('says which policies select each side and explains the decision in words', () => {
    const r = evaluateConnection(desired, tcp(TOOL1, WEB1, 9090));
    expect(r.source).toEqual({ endpoint: 'dev/tool-1', egressPolicies: [] });
    expect(r.destination).toEqual({ endpoint: 'prod/web-1', ingressPolicies: ['gnp/edge', 'np/prod/web', 'knp/prod/default-deny', 'knp/prod/web-from-corp'] });
    expect(formatEvaluation(r)).toEqual([
      'source dev/tool-1: egress policies (none)',
      'destination prod/web-1: ingress policies gnp/edge, np/prod/web, knp/prod/default-deny, knp/prod/web-from-corp',
      'egress of dev/tool-1: no policy selects it: allow',
      'ingress of prod/web-1: no rule of gnp/edge, np/prod/web decided: end of tortie stage, drop',
      'verdict: deny',
    ]);
  });
});
