import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SpeakerStatusFile } from '../../../bgp-speaker/src/config/status-file.js';
import { parseConfigFromEnv } from '../config.js';
import type { CommandContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { formatSince, renderNodeStatus, runNodeStatus } from './node-status.js';

function contextFor() {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CommandContext = {
    config: parseConfigFromEnv({}),
    datastore: async () => {
      throw new Error('node status reads the status file, not the datastore');
    },
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    readStdin: async () => '',
  };
  return { ctx, out, err };
}

const status: SpeakerStatusFile = {
  node: 'node1',
  pid: process.pid,
  updatedAt: '2026-11-23T12:00:01.000Z',
  localAsn: 64512,
  routerId: '10.252.0.1',
  peers: [
    { peerAddress: '10.252.0.2', peerPort: 179, name: 'Mesh_node2', type: 'node-to-node mesh', peerAsn: 64512, state: 'Established', since: '2026-11-23T11:30:04.000Z', lastError: null, prefixesReceived: 1, prefixesSent: 1, hasUnappliedPassword: false },
    { peerAddress: '10.0.0.254', peerPort: 179, name: 'tor', type: 'global', peerAsn: 65000, state: 'Active', since: '2026-11-22T08:00:00.000Z', lastError: 'connect ECONNREFUSED 10.0.0.254:179', prefixesReceived: 0, prefixesSent: 0, hasUnappliedPassword: true },
  ],
};

describe('tortie node status', () => {
  let dir: string | null = null;
  afterEach(async () => {
    if (dir !== null) await rm(dir, { recursive: true, force: true });
    dir = null;
  });

  it('prints the IPv4 table as calicoctl does, with prefixes received and sent', () => {
    expect(renderNodeStatus(status, new Date('2026-11-23T12:00:02Z'))).toBe(
      [
        'tortie node agent is running (node node1, pid ' + String(process.pid) + ', AS 64512, router id 10.252.0.1).',
        '',
        'IPv4 BGP status',
        '+--------------+-------------------+-------+------------+-------------------------------------------------------------------------------+----------+------+',
        '| PEER ADDRESS |     PEER TYPE     | STATE |   SINCE    |                                     INFO                                      | RECEIVED | SENT |',
        '+--------------+-------------------+-------+------------+-------------------------------------------------------------------------------+----------+------+',
        '| 10.252.0.2   | node-to-node mesh | up    | 11:30:04   | Established                                                                   | 1        | 1    |',
        '| 10.0.0.254   | global            | start | 2026-11-22 | Active connect ECONNREFUSED 10.0.0.254:179 (password not applied: no TCP-MD5) | 0        | 0    |',
        '+--------------+-------------------+-------+------------+-------------------------------------------------------------------------------+----------+------+',
        '',
        'IPv6 BGP status',
        'No IPv6 peers found.',
        '',
      ].join('\n'),
    );
  });

  it('lists tunnel devices with their state, and why one is not ready', () => {
    const text = renderNodeStatus({ ...status, peers: [], tunnels: [{ name: 'tunl0', state: 'not-ready', pools: ['default-ipv4-ippool'], error: 'no IPIP (CONFIG_NET_IPIP)' }, { name: 'vxlan.tortie', state: 'ready', pools: ['vx'], error: null }] }, new Date());
    expect(text).toContain('Tunnel devices\n');
    expect(text).toMatch(/\| tunl0 +\| not-ready \| default-ipv4-ippool \| no IPIP \(CONFIG_NET_IPIP\) \|/);
    expect(text).toMatch(/\| vxlan\.tortie +\| ready +\| vx +\| +\|/);
  });

  it('SINCE is the time of day for today, the date before', () => {
    expect(formatSince('2026-11-23T01:02:03Z', new Date('2026-11-23T23:00:00Z'))).toBe('01:02:03');
    expect(formatSince('2026-11-20T01:02:03Z', new Date('2026-11-23T23:00:00Z'))).toBe('2026-11-20');
  });

  it('-o json prints the status file’s content', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tt-status-'));
    const file = join(dir, 'status.json');
    await writeFile(file, JSON.stringify(status));
    const { ctx, out } = contextFor();
    expect(await runNodeStatus(ctx, { output: 'json', statusFile: file })).toBe(ExitCode.Ok);
    expect(JSON.parse(out.join(''))).toEqual(status);
  });

  it('says the node agent is not running when there is no status file', async () => {
    const { ctx, err } = contextFor();
    expect(await runNodeStatus(ctx, { output: 'table', statusFile: '/nonexistent/tortie/bgp-status.json' })).toBe(ExitCode.Unavailable);
    expect(err.join('')).toMatch(/tortie node agent is not running on this host \(no status file \/nonexistent/);
  });

  it('says the node agent is not running when the pid that wrote the file has exited', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tt-status-'));
    const file = join(dir, 'status.json');
    await writeFile(file, JSON.stringify({ ...status, pid: 2 ** 22 + 1 }));
    const { ctx, err, out } = contextFor();
    expect(await runNodeStatus(ctx, { output: 'table', statusFile: file })).toBe(ExitCode.Unavailable);
    expect(err.join('')).toMatch(/not running on this host \(pid 4194305, .* has exited\)/);
    expect(out).toEqual([]);
  });
});
