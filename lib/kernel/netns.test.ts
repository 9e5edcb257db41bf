import { describe, expect, it } from 'vitest';
import { netnsExists, netnsRefFromName, netnsRefFromPath } from './netns.js';

describe('netnsRefFromPath', () => {
  it.each([
    ['/var/run/netns/cni-1234', { path: '/var/run/netns/cni-1234', name: 'cni-1234' }],
    ['/run/netns/tt-abc', { path: '/run/netns/tt-abc', name: 'tt-abc' }],
    ['/run//netns/tt-abc/', { path: '/run/netns/tt-abc', name: 'tt-abc' }],
    ['/proc/4242/ns/net', { path: '/proc/4242/ns/net', name: null }],
    ['/var/run/docker/netns/1f2e', { path: '/var/run/docker/netns/1f2e', name: null }],
    ['/run/netns/a/b', { path: '/run/netns/a/b', name: null }],
  ])('%s', (path, want) => {
    expect(netnsRefFromPath(path)).toEqual(want);
  });

  it.each(['', 'netns/x', 'x'])('refuses the relative path %j', (path) => {
    expect(netnsRefFromPath(path)).toBeNull();
  });
});

describe('netnsRefFromName', () => {
  it('names a namespace under /run/netns', () => {
    expect(netnsRefFromName('tt-1')).toEqual({ path: '/run/netns/tt-1', name: 'tt-1' });
  });
  it.each(['', '..', 'a/b', 'a b'])('refuses %j', (name) => {
    expect(() => netnsRefFromName(name)).toThrow(/not a valid network namespace name/);
  });
});

describe('netnsExists', () => {
  it('is false for a missing file and for a plain file', async () => {
    expect(await netnsExists('/run/netns/tortie-surely-not-there')).toBe(false);
    expect(await netnsExists('/etc/hostname')).toBe(false);
  });
  it("is true for this process's own namespace file", async () => {
    expect(await netnsExists('/proc/self/ns/net')).toBe(true);
  });
});
