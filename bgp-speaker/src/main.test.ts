import { describe, expect, it } from 'vitest';
import { TORTIE_API_VERSION } from '../../lib/contract.js';
import { Kinds } from '../../lib/datastore/kinds.js';
import { createMemoryDatastore } from '../../lib/datastore/memory.js';
import { createLogger } from '../../lib/log.js';
import { DEFAULT_STATUS_FILE } from './config/status-file.js';
import { DatastoreMirror, parseSpeakerConfig, secretValues } from './main.js';

describe('parseSpeakerConfig', () => {
  it('defaults as calico/node: etcdv3 on localhost, the hostname as node name, port from BGPConfiguration', () => {
    expect(parseSpeakerConfig({}, 'host-a')).toEqual({
      nodeName: 'host-a',
      datastoreType: 'etcdv3',
      etcdEndpoints: ['http://127.0.0.1:2379'],
      etcdTlsFiles: { caFile: undefined, certFile: undefined, keyFile: undefined },
      kubeconfig: undefined,
      namespace: 'kube-system',
      listenAddress: '0.0.0.0',
      statusFile: DEFAULT_STATUS_FILE,
      holdTimeSec: 90,
      connectRetryTimeSec: 5,
      isRestarting: false,
    });
  });

  it('reads NODENAME, ETCD_ENDPOINTS (comma-separated) and the speaker’s own variables', () => {
    const c = parseSpeakerConfig({ NODENAME: 'n1', ETCD_ENDPOINTS: 'http://a:2379, http://b:2379', TORTIE_BGP_HOLD_TIME: '9', TORTIE_BGP_RESTARTING: 'true', TORTIE_STATUS_FILE: '/tmp/s.json' }, 'x');
    expect(c).toMatchObject({ nodeName: 'n1', etcdEndpoints: ['http://a:2379', 'http://b:2379'], holdTimeSec: 9, isRestarting: true, statusFile: '/tmp/s.json' });
  });

  it('refuses a hold time the RFC forbids, naming the variable', () => {
    expect(() => parseSpeakerConfig({ TORTIE_BGP_HOLD_TIME: '2' }, 'x')).toThrow(/TORTIE_BGP_HOLD_TIME: must be 0 or 3–65535/);
  });
});

describe('secretValues', () => {
  it('decodes data from base64 and takes stringData as it is', () => {
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { a: Buffer.from('pass-a').toString('base64') }, stringData: { b: 'pass-b' } };
    expect(secretValues(secret)).toEqual({ a: 'pass-a', b: 'pass-b' });
  });
});

describe('DatastoreMirror', () => {
  it('reports changes only once every kind has listed, and ignores invalid objects', async () => {
    const ds = createMemoryDatastore();
    await ds.create(Kinds.Node, { apiVersion: TORTIE_API_VERSION, kind: 'Node', metadata: { name: 'n1' }, spec: { bgp: { ipv4Address: '10.0.0.1/24' } } });
    await ds.create(Kinds.Node, { apiVersion: TORTIE_API_VERSION, kind: 'Node', metadata: { name: 'bad' }, spec: { bgp: { ipv4Address: 'not an address' } } });
    await ds.create(Kinds.K8sSecret, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bgp', namespace: 'kube-system' }, stringData: { tor: 'x' } });
    await ds.create(Kinds.K8sSecret, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'elsewhere', namespace: 'default' }, stringData: { tor: 'y' } });
    let changes = 0;
    const mirror = new DatastoreMirror(ds, 'kube-system', createLogger({ level: 'silent' }), () => changes++);
    mirror.start();
    const deadline = Date.now() + 5_000;
    while (!mirror.hasSynced && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(mirror.hasSynced).toBe(true);
    expect(changes).toBeGreaterThan(0);
    const snap = mirror.snapshot('n1');
    expect(snap.nodes.map((n) => n.metadata.name)).toEqual(['n1']);
    expect([...(snap.secrets?.keys() ?? [])]).toEqual(['bgp']);
    expect(snap.bgpConfiguration).toBeNull();

    const before = changes;
    await ds.create(Kinds.BGPPeer, { apiVersion: TORTIE_API_VERSION, kind: 'BGPPeer', metadata: { name: 'tor' }, spec: { peerIP: '10.0.0.254', asNumber: 65000 } });
    while (changes === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(mirror.snapshot('n1').bgpPeers.map((p) => p.metadata.name)).toEqual(['tor']);
    mirror.stop();
    await ds.close();
  });
});

describe('parseSpeakerConfig: etcd TLS', () => {
  it('refuses TLS settings with http:// endpoints, naming the setting and the fix', () => {
    expect(() => parseSpeakerConfig({ ETCD_CA_CERT_FILE: '/ca' }, 'h')).toThrow(/ETCD_CA_CERT_FILE is set, but the etcd endpoint http:\/\/127\.0\.0\.1:2379 is not https:\/\/: use https:\/\//);
  });
});
