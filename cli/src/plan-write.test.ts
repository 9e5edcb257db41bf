import { describe, expect, it } from 'vitest';
import type { StoredObject } from '../../lib/datastore/types.js';
import { isSameJson, mergeForUpdate, planApply, withoutServerFields } from './plan-write.js';

const desired: StoredObject = {
  apiVersion: 'crd.tortie.dev/v1',
  kind: 'IPPool',
  metadata: { name: 'p' },
  spec: { cidr: '10.0.0.0/16', blockSize: 26 },
};
const stored: StoredObject = {
  apiVersion: 'crd.tortie.dev/v1',
  kind: 'IPPool',
  metadata: { name: 'p', resourceVersion: '7', uid: 'u-1', creationTimestamp: '2026-01-01T00:00:00Z', labels: {} },
  spec: { blockSize: 26, cidr: '10.0.0.0/16' },
  status: { observed: true },
};

describe('planApply', () => {
  it('creates what is absent, without any server-set metadata the file carried', () => {
    const plan = planApply({ ...desired, metadata: { name: 'p', resourceVersion: '3', uid: 'x' } }, null);
    expect(plan).toEqual({ action: 'create', object: { ...desired, metadata: { name: 'p' } } });
  });

  it('is unchanged when only server-set metadata, status, key order or an empty label map differ', () => {
    expect(planApply(desired, stored)).toEqual({ action: 'unchanged' });
  });

  it('applying what get -o yaml printed is unchanged', () => {
    expect(planApply(stored, stored)).toEqual({ action: 'unchanged' });
  });

  it('updates on the stored revision when the spec differs, keeping uid, creationTimestamp and status', () => {
    const changed = { ...desired, spec: { cidr: '10.0.0.0/16', blockSize: 28 } };
    expect(planApply(changed, stored)).toEqual({
      action: 'update',
      object: {
        ...changed,
        metadata: { name: 'p', resourceVersion: '7', uid: 'u-1', creationTimestamp: '2026-01-01T00:00:00Z' },
        status: { observed: true },
      },
    });
  });

  it('a label change is a change', () => {
    expect(planApply({ ...desired, metadata: { name: 'p', labels: { a: 'b' } } }, stored).action).toBe('update');
  });
});

describe('mergeForUpdate', () => {
  it('uses the given resourceVersion over the stored one (replace with a revision from the file)', () => {
    expect(mergeForUpdate(desired, stored, '5').metadata.resourceVersion).toBe('5');
  });
});

describe('withoutServerFields', () => {
  it('drops resourceVersion, uid, creationTimestamp and generation and keeps the rest', () => {
    expect(withoutServerFields(stored).metadata).toEqual({ name: 'p', labels: {} });
  });
});

describe('isSameJson', () => {
  it.each([
    [{ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }, true],
    [{ a: 1, b: undefined }, { a: 1 }, true],
    [[1, 2], [2, 1], false],
    [{ a: null }, { a: undefined }, false],
    [{ a: '1' }, { a: 1 }, false],
  ])('%j vs %j: %s', (a, b, same) => {
    expect(isSameJson(a, b)).toBe(same);
  });
});
