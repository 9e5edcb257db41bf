import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tortieKinds } from '../../lib/datastore/kinds.js';
import { validateResource } from './index.js';

// Consumers treat an invalid stored object as absent; validation must answer
// with issues for any input at all, never throw.
describe('validateResource', () => {
  it('answers ok or issues for arbitrary specs of every kind, never throws', () => {
    fc.assert(
      fc.property(fc.constantFrom(...tortieKinds), fc.jsonValue(), fc.jsonValue(), (kind, spec, metadata) => {
        const result = validateResource({ apiVersion: kind.apiVersion, kind: kind.kind, metadata, spec });
        expect(typeof result.ok).toBe('boolean');
        if (!result.ok) for (const issue of result.issues) expect(issue.message.length).toBeGreaterThan(0);
      }),
      { numRuns: 2000 },
    );
  });

  it('answers for arbitrary field values inside a valid-looking IPPool and policy', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('cidr', 'blockSize', 'ipipMode', 'vxlanMode', 'nodeSelector', 'natOutgoing'), fc.jsonValue()), (spec) => {
        const result = validateResource({ apiVersion: 'crd.tortie.dev/v1', kind: 'IPPool', metadata: { name: 'p' }, spec });
        expect(typeof result.ok).toBe('boolean');
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.array(fc.dictionary(fc.constantFrom('action', 'protocol', 'source', 'destination', 'icmp', 'ipVersion'), fc.jsonValue())), (ingress) => {
        const result = validateResource({ apiVersion: 'crd.tortie.dev/v1', kind: 'GlobalNetworkPolicy', metadata: { name: 'p' }, spec: { ingress } });
        expect(typeof result.ok).toBe('boolean');
      }),
      { numRuns: 1000 },
    );
  });
});
