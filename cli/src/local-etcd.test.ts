import { describe, expect, it } from 'vitest';
import { etcdArguments, isEtcdProcess, planLocalEtcd } from './local-etcd.js';

describe('planLocalEtcd', () => {
  it('serves the configured loopback endpoint with the peer port next to it, pid and log beside the data', () => {
    expect(planLocalEtcd('http://127.0.0.1:2379', '/var/lib/tortie/etcd/', '/usr/bin/etcd')).toEqual({
      binary: '/usr/bin/etcd',
      dataDir: '/var/lib/tortie/etcd',
      clientUrl: 'http://127.0.0.1:2379',
      peerUrl: 'http://127.0.0.1:2380',
      pidFile: '/var/lib/tortie/etcd.pid',
      logFile: '/var/lib/tortie/etcd.log',
    });
  });

  it('takes localhost as 127.0.0.1 and a missing port as 2379', () => {
    expect(planLocalEtcd('http://localhost', '/d', 'etcd').clientUrl).toBe('http://127.0.0.1:2379');
    expect(planLocalEtcd('http://127.0.0.1:23790', '/d', 'etcd').peerUrl).toBe('http://127.0.0.1:23791');
  });

  it.each(['http://10.0.0.1:2379', 'https://127.0.0.1:2379'])('refuses %s: only a local plain-HTTP etcd', (endpoint) => {
    expect(() => planLocalEtcd(endpoint, '/d', 'etcd')).toThrow(expect.objectContaining({ code: 'ERR_USAGE', message: expect.stringContaining(endpoint) }));
  });

  it('runs a one-member cluster on those URLs', () => {
    const args = etcdArguments(planLocalEtcd('http://127.0.0.1:2379', '/d', 'etcd'));
    expect(args).toContain('--listen-client-urls=http://127.0.0.1:2379');
    expect(args).toContain('--initial-cluster=tortie=http://127.0.0.1:2380');
    expect(args).toContain('--data-dir=/d');
  });
});

describe('isEtcdProcess', () => {
  it('is false for this process (not etcd) and for a pid that does not exist', () => {
    expect(isEtcdProcess(process.pid)).toBe(false);
    expect(isEtcdProcess(2 ** 22 + 1)).toBe(false);
  });
});
