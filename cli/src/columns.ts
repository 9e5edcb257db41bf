import type { KindInfo } from '../../lib/datastore/kinds.js';
import type { StoredObject } from '../../lib/datastore/types.js';

/**
 * The table columns of `tortie get`, per kind, calicoctl's where calicoctl
 * has them. `wide` columns appear only with `-o wide`. Pure.
 */
export interface Column {
  readonly header: string;
  readonly value: (object: StoredObject) => string;
  readonly wide?: boolean;
}

/** What a cell shows when the object doesn't have the field (kubectl's spelling). */
export const NONE = '<none>';

function field(object: StoredObject, path: string): unknown {
  let current: unknown = object;
  for (const key of path.split('.')) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function text(value: unknown): string {
  if (value === undefined || value === null || value === '') return NONE;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

const spec = (path: string, header: string, options: { wide?: boolean; fallback?: string } = {}): Column => ({
  header,
  wide: options.wide ?? false,
  value: (object) => {
    const value = field(object, `spec.${path}`);
    return value === undefined && options.fallback !== undefined ? options.fallback : text(value);
  },
});

const name: Column = { header: 'NAME', value: (object) => object.metadata.name };
const namespace: Column = { header: 'NAMESPACE', value: (object) => text(object.metadata.namespace) };

const byKind: Readonly<Record<string, readonly Column[]>> = {
  IPPool: [
    name,
    spec('cidr', 'CIDR'),
    spec('nodeSelector', 'SELECTOR', { fallback: 'all()' }),
    spec('blockSize', 'BLOCKSIZE', { wide: true }),
    spec('ipipMode', 'IPIPMODE', { wide: true }),
    spec('vxlanMode', 'VXLANMODE', { wide: true }),
    spec('natOutgoing', 'NATOUTGOING', { wide: true, fallback: 'false' }),
    spec('disabled', 'DISABLED', { wide: true, fallback: 'false' }),
  ],
  BGPPeer: [
    name,
    {
      header: 'PEERIP',
      value: (object) => text(field(object, 'spec.peerIP') ?? field(object, 'spec.peerSelector')),
    },
    {
      // calicoctl's NODE column: the node, else the node selector, else "(global)".
      header: 'NODE',
      value: (object) => {
        const node = field(object, 'spec.node') ?? field(object, 'spec.nodeSelector');
        return node === undefined || node === '' ? '(global)' : text(node);
      },
    },
    spec('asNumber', 'ASN'),
  ],
  BGPConfiguration: [
    name,
    spec('nodeToNodeMeshEnabled', 'MESHENABLED'),
    spec('asNumber', 'ASNUMBER'),
  ],
  GlobalNetworkPolicy: [name, spec('order', 'ORDER', { wide: true }), spec('selector', 'SELECTOR', { wide: true })],
  NetworkPolicy: [name, spec('order', 'ORDER', { wide: true }), spec('selector', 'SELECTOR', { wide: true })],
};

/** The columns for a kind: NAMESPACE first when listing a namespaced kind across namespaces. */
export function columnsFor(kind: KindInfo, options: { wide: boolean; allNamespaces: boolean }): Column[] {
  const columns = (kind.isTortieKind ? byKind[kind.kind] : undefined) ?? [name];
  const shown = columns.filter((column) => options.wide || column.wide !== true);
  return kind.namespaced && options.allNamespaces ? [namespace, ...shown] : shown;
}

export function tableRows(columns: readonly Column[], objects: readonly StoredObject[]): string[][] {
  return objects.map((object) => columns.map((column) => column.value(object)));
}
