import { describe, expect, it } from 'vitest';
import { parseControllersConfig } from './config.js';

describe('parseControllersConfig', () => {
  it('has Calico-like defaults', () => {
    expect(parseControllersConfig({})).toEqual({
      enabled: ['node', 'ipam'],
      ipamLeakGracePeriodMs: 15 * 60_000,
      nodeGracePeriodMs: 30_000,
      resyncIntervalMs: 5 * 60_000,
      healthLogIntervalMs: 60_000,
      syncTimeoutMs: 5 * 60_000,
    });
  });

  it('reads durations in Go syntax and a controller list', () => {
    const config = parseControllersConfig({ ENABLED_CONTROLLERS: 'ipam', IPAM_LEAK_GRACE_PERIOD: '1m30s', RESYNC_INTERVAL: '' });
    expect(config.enabled).toEqual(['ipam']);
    expect(config.ipamLeakGracePeriodMs).toBe(90_000);
    expect(config.resyncIntervalMs).toBe(300_000);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    [{ IPAM_LEAK_GRACE_PERIOD: 'soon' }, /IPAM_LEAK_GRACE_PERIOD="soon": "soon" is not a duration/],
    [{ ENABLED_CONTROLLERS: 'node,policy' }, /ENABLED_CONTROLLERS="node,policy": "policy" is not a controller/],
  ])('names the bad variable: %o', (env, message) => {
    expect(() => parseControllersConfig(env)).toThrow(message);
  });
});
