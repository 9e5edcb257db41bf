import { stringify } from 'yaml';
import type { KindInfo } from '../../lib/datastore/kinds.js';
import type { StoredObject } from '../../lib/datastore/types.js';
import { columnsFor, tableRows } from './columns.js';
import { qualifiedName } from './kind-names.js';
import { renderTable } from './table.js';

/**
 * Rendering `get` results for `-o table|wide|yaml|json|name`. Pure.
 * - yaml: one document per object (`---` between), so it can be applied back;
 * - json: the object for one name, a `List` for several (also applicable);
 * - name: `ippool.crd.tortie.dev/default-ipv4-ippool`, one per line.
 */
export const OutputFormats = ['table', 'wide', 'yaml', 'json', 'name'] as const;
export type OutputFormat = (typeof OutputFormats)[number];

const LEADING_KEYS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];

/** apiVersion, kind, metadata, spec, status first (as kubectl prints them), the rest after. */
export function orderFields(object: StoredObject): StoredObject {
  const ordered: Record<string, unknown> = {};
  for (const key of LEADING_KEYS) if (object[key] !== undefined) ordered[key] = object[key];
  for (const [key, value] of Object.entries(object)) if (!(key in ordered) && value !== undefined) ordered[key] = value;
  return ordered as StoredObject;
}

export function renderObjects(
  kind: KindInfo,
  objects: readonly StoredObject[],
  format: OutputFormat,
  options: { allNamespaces: boolean; single: boolean },
): string {
  switch (format) {
    case 'yaml':
      return objects.map((object) => stringify(orderFields(object))).join('---\n');
    case 'json': {
      const value =
        options.single && objects.length === 1
          ? orderFields(objects[0] as StoredObject)
          : { apiVersion: 'v1', kind: 'List', items: objects.map(orderFields) };
      return `${JSON.stringify(value, null, 2)}\n`;
    }
    case 'name':
      return objects.map((object) => `${qualifiedName(kind, object.metadata.name)}\n`).join('');
    case 'table':
    case 'wide': {
      const columns = columnsFor(kind, { wide: format === 'wide', allNamespaces: options.allNamespaces });
      return renderTable(columns.map((column) => column.header), tableRows(columns, objects));
    }
  }
}

/** Namespace, then name: the order `get` lists in, whatever order the datastore used. */
export function sortObjects(objects: readonly StoredObject[]): StoredObject[] {
  const key = (object: StoredObject) => `${object.metadata.namespace ?? ''}\u0000${object.metadata.name}`;
  return [...objects].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
