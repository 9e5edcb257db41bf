import { describe, expect, it } from 'vitest';
import { Kinds } from '../../lib/datastore/kinds.js';
import type { StoredObject } from '../../lib/datastore/types.js';
import { NONE, columnsFor, tableRows } from './columns.js';
import { renderTable } from './table.js';

describe('renderTable', () => {
  it('aligns each column to its widest cell, three spaces apart, without trailing spaces', () => {
    expect(renderTable(['NAME', 'CIDR'], [['default-ipv4-ippool', '192.168.0.0/16'], ['b', '10.0.0.0/8']])).toBe(
      'NAME                  CIDR\n' + 'default-ipv4-ippool   192.168.0.0/16\n' + 'b                     10.0.0.0/8\n',
    );
  });

  it('prints only the header for no rows', () => {
    expect(renderTable(['NAME'], [])).toBe('NAME\n');
  });
});

const pool = (name: string, spec: Record<string, unknown>): StoredObject => ({
  apiVersion: 'crd.tortie.dev/v1',
  kind: 'IPPool',
  metadata: { name },
  spec,
});

describe('columns', () => {
  const defaults = { cidr: '192.168.0.0/16', blockSize: 26, ipipMode: 'Never', vxlanMode: 'Always', natOutgoing: true, nodeSelector: 'all()', disabled: false };

  it('IPPool: NAME CIDR SELECTOR', () => {
    const columns = columnsFor(Kinds.IPPool, { wide: false, allNamespaces: false });
    const text = renderTable(columns.map((c) => c.header), tableRows(columns, [pool('default-ipv4-ippool', defaults)]));
    expect(text).toBe('NAME                  CIDR             SELECTOR\n' + 'default-ipv4-ippool   192.168.0.0/16   all()\n');
  });

  it('IPPool -o wide adds BLOCKSIZE IPIPMODE VXLANMODE NATOUTGOING DISABLED', () => {
    const columns = columnsFor(Kinds.IPPool, { wide: true, allNamespaces: false });
    expect(columns.map((c) => c.header)).toEqual(['NAME', 'CIDR', 'SELECTOR', 'BLOCKSIZE', 'IPIPMODE', 'VXLANMODE', 'NATOUTGOING', 'DISABLED']);
    expect(tableRows(columns, [pool('p', defaults)])).toEqual([['p', '192.168.0.0/16', 'all()', '26', 'Never', 'Always', 'true', 'false']]);
  });

  it('IPPool without optional fields shows the defaults where they are known, <none> elsewhere', () => {
    const columns = columnsFor(Kinds.IPPool, { wide: true, allNamespaces: false });
    expect(tableRows(columns, [pool('p', { cidr: '10.0.0.0/8' })])).toEqual([['p', '10.0.0.0/8', 'all()', NONE, NONE, NONE, 'false', 'false']]);
  });

  it('BGPPeer: NAME PEERIP NODE ASN, with (global) for a peer of every node', () => {
    const columns = columnsFor(Kinds.BGPPeer, { wide: false, allNamespaces: false });
    const peer = (name: string, spec: Record<string, unknown>): StoredObject => ({ apiVersion: 'crd.tortie.dev/v1', kind: 'BGPPeer', metadata: { name }, spec });
    expect(columns.map((c) => c.header)).toEqual(['NAME', 'PEERIP', 'NODE', 'ASN']);
    expect(
      tableRows(columns, [
        peer('tor', { peerIP: '192.0.2.1', asNumber: 64513 }),
        peer('node1-tor', { peerIP: '192.0.2.2', asNumber: 64514, node: 'node1' }),
        peer('rack', { peerIP: '192.0.2.3', asNumber: 64515, nodeSelector: "rack == 'a'" }),
      ]),
    ).toEqual([
      ['tor', '192.0.2.1', '(global)', '64513'],
      ['node1-tor', '192.0.2.2', 'node1', '64514'],
      ['rack', '192.0.2.3', "rack == 'a'", '64515'],
    ]);
  });

  it('other kinds show NAME, and NAMESPACE first when listing across namespaces', () => {
    expect(columnsFor(Kinds.HostEndpoint, { wide: false, allNamespaces: false }).map((c) => c.header)).toEqual(['NAME']);
    expect(columnsFor(Kinds.WorkloadEndpoint, { wide: false, allNamespaces: true }).map((c) => c.header)).toEqual(['NAMESPACE', 'NAME']);
    expect(columnsFor(Kinds.WorkloadEndpoint, { wide: false, allNamespaces: false }).map((c) => c.header)).toEqual(['NAME']);
    expect(columnsFor(Kinds.HostEndpoint, { wide: false, allNamespaces: true }).map((c) => c.header)).toEqual(['NAME']);
  });
});
