import { describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import { WorkQueue } from './queue.js';

describe('WorkQueue', () => {
  it('holds a waiting key once however often it is added', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.length).toBe(0);
  });

  it('never hands out a key that is being processed; adding it meanwhile queues it again after done', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = await q.get();
    q.add('a');
    expect(q.length).toBe(0);
    let second: string | null | undefined;
    void q.get().then((k) => (second = k));
    await Promise.resolve();
    expect(second).toBeUndefined();
    q.done(key!);
    await Promise.resolve();
    expect(second).toBe('a');
  });

  it('a waiting worker gets a key as soon as it is added', async () => {
    const q = new WorkQueue();
    const got = q.get();
    q.add('x');
    expect(await got).toBe('x');
  });

  it('backs off exponentially per key, capped, and forget starts again', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 1_000, clock });
    expect([1, 2, 3, 4, 5, 6].map(() => q.addRateLimited('k'))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect(q.addRateLimited('other')).toBe(100);
    q.forget('k');
    expect(q.addRateLimited('k')).toBe(100);
  });

  it('a rate-limited key is queued only when its delay has passed', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ baseDelayMs: 100, clock });
    q.addRateLimited('k');
    expect(q.length).toBe(0);
    clock.advance(99);
    expect(q.length).toBe(0);
    clock.advance(1);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('k');
  });

  it('addAfter keeps the earlier of two delays for one key', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('k', 500);
    q.addAfter('k', 100);
    q.addAfter('k', 300);
    clock.advance(100);
    expect(q.length).toBe(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it('after shutDown, get returns null and waiting workers are released', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    const waiting = q.get();
    q.addAfter('later', 100);
    q.shutDown();
    expect(await waiting).toBeNull();
    expect(await q.get()).toBeNull();
    q.add('x');
    expect(clock.pendingTimers).toBe(0);
    expect(await q.get()).toBeNull();
  });
});
