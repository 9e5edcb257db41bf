import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calculatePolicy } from '../../../felix/src/calc/calculate-policy.js';
import { tortie } from '../../../felix/src/calc/scenarios.test-helpers.js';
import type { PolicySnapshot } from '../../../felix/src/calc/snapshot.js';
import { fromFelixConfiguration } from '../../../felix/src/model/config.js';
import { formatNftJson } from '../../../felix/src/render/nft-json.js';
import { renderFullReplace } from '../../../felix/src/render/ruleset.js';

// A host endpoint on real connections: namespace "host" is the node, with
// interface hep0 (a veth to namespace "peer"). Policy on hep0 allows inbound
// TCP 10250 and outbound TCP 80; the failsafe list is only TCP 22 inbound. Proves the
// input/output chains, the goto host maps (an allowed egress ends in the
// output chain's accept), the host endpoint default drop and failsafe ports.
const isRoot = process.getuid?.() === 0;
const id = `tfh${process.pid % 100000}`;
const HOST = `${id}h`;
const PEER = `${id}p`;
const HOST_IP = '192.168.77.1';
const PEER_IP = '192.168.77.2';

const failsafe = fromFelixConfiguration({ failsafeInboundHostPorts: [{ protocol: 'tcp', port: 22 }], failsafeOutboundHostPorts: [] });
if (!failsafe.ok) throw new Error(failsafe.error);
const snapshot: PolicySnapshot = {
  nodeName: 'node1',
  endpoints: [],
  hostEndpoints: [{ name: 'node1-hep0', node: 'node1', interfaceName: 'hep0', expectedIps: [HOST_IP], labels: { role: 'node' }, ports: [] }],
  namespaces: [],
  serviceAccounts: [],
  networkSets: [],
  config: failsafe.value,
  policies: [
    tortie({
      kind: 'GlobalNetworkPolicy',
      metadata: { name: 'node' },
      spec: { selector: 'role == "node"', types: ['Ingress', 'Egress'], ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [10250] } }], egress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [80] } }] },
    }),
  ],
};

async function run(args: string[]): Promise<void> {
  const r = await execa('ip', args, { reject: false });
  if (r.exitCode !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}
async function connects(fromNs: string, to: string, port: number): Promise<boolean> {
  const r = await execa('ip', ['netns', 'exec', fromNs, 'socat', '-T1', '/dev/null', `TCP:${to}:${port},connect-timeout=1`], { reject: false, timeout: 5000 });
  return r.exitCode === 0;
}

describe.skipIf(!isRoot)('host endpoint rules on real connections', () => {
  const servers: ResultPromise[] = [];
  const workDir = mkdtempSync(join(tmpdir(), 'tortie-nft-hep-'));

  beforeAll(async () => {
    await run(['netns', 'add', HOST]);
    await run(['netns', 'add', PEER]);
    await run(['-n', HOST, 'link', 'add', 'hep0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', PEER]);
    for (const [ns, ifname, addr] of [[HOST, 'hep0', HOST_IP], [PEER, 'eth0', PEER_IP]] as const) {
      await run(['-n', ns, 'link', 'set', 'lo', 'up']);
      await run(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', ifname]);
      await run(['-n', ns, 'link', 'set', ifname, 'up']);
      for (const port of [22, 80, 10250]) {
        servers.push(execa('ip', ['netns', 'exec', ns, 'socat', `TCP-LISTEN:${port},fork,reuseaddr`, 'EXEC:/bin/true'], { reject: false }));
      }
    }
    const end = Date.now() + 10_000;
    while (!((await connects(PEER, HOST_IP, 80)) && (await connects(HOST, PEER_IP, 80)))) {
      if (Date.now() > end) throw new Error('servers did not come up');
      await new Promise((r) => setTimeout(r, 50));
    }
    const path = join(workDir, 'ruleset.json');
    writeFileSync(path, formatNftJson(renderFullReplace(calculatePolicy(snapshot))));
    await run(['netns', 'exec', HOST, 'nft', '-j', '-f', path]);
  }, 60_000);

  afterAll(async () => {
    for (const s of servers) if (s.pid !== undefined) process.kill(s.pid, 'SIGTERM');
    await Promise.allSettled(servers);
    for (const ns of [HOST, PEER]) await execa('ip', ['netns', 'del', ns], { reject: false });
    rmSync(workDir, { recursive: true, force: true });
  });

  it.each([
    ['inbound to a port the policy allows', PEER, HOST_IP, 10250, true],
    ['inbound to a failsafe port no policy allows', PEER, HOST_IP, 22, true],
    ['inbound to any other port (host endpoint default drop)', PEER, HOST_IP, 80, false],
    ['outbound, which the policy allows', HOST, PEER_IP, 80, true],
    ['outbound to a port the policy does not allow', HOST, PEER_IP, 10250, false],
  ] as const)('%s', async (_name, from, to, port, expected) => {
    expect(await connects(from, to, port)).toBe(expected);
  });
});
