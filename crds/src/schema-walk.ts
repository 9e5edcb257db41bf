import type { z } from 'zod';

/**
 * Finding the schema of a field by its path, so an error can say what the
 * field should hold (its hint) or which fields an object knows. Reads zod's
 * `_zod.def`, the structure zod documents for library authors.
 */
interface DefView {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  valueType?: z.ZodType;
  options?: readonly z.ZodType[];
  getter?: () => z.ZodType;
}

function defOf(schema: z.ZodType): DefView {
  return schema._zod.def as unknown as DefView;
}

/** The schema itself, then each schema it wraps (optional, default, pipe input, ...), outermost first. */
export function* unwrapChain(schema: z.ZodType): Generator<z.ZodType> {
  let current: z.ZodType | undefined = schema;
  for (let depth = 0; current !== undefined && depth < 32; depth++) {
    yield current;
    const def = defOf(current);
    switch (def.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'catch':
      case 'readonly':
      case 'nonoptional':
        current = def.innerType;
        break;
      case 'pipe':
        current = def.in;
        break;
      case 'lazy':
        current = def.getter?.();
        break;
      default:
        current = undefined;
    }
  }
}

function child(schema: z.ZodType, segment: PropertyKey): z.ZodType | undefined {
  for (const s of unwrapChain(schema)) {
    const def = defOf(s);
    if (def.type === 'object' && typeof segment === 'string') return def.shape?.[segment];
    if (def.type === 'array' && typeof segment === 'number') return def.element;
    if (def.type === 'record') return def.valueType;
    if (def.type === 'union') {
      for (const option of def.options ?? []) {
        const found = child(option, segment);
        if (found !== undefined) return found;
      }
      return undefined;
    }
  }
  return undefined;
}

/** The schema at `path` below `root`, or undefined when the path leaves the schema. */
export function schemaAt(root: z.ZodType, path: readonly PropertyKey[]): z.ZodType | undefined {
  let current: z.ZodType | undefined = root;
  for (const segment of path) {
    if (current === undefined) return undefined;
    current = child(current, segment);
  }
  return current;
}

/** The field names of the object schema at `path` (empty when it is not an object). */
export function fieldsAt(root: z.ZodType, path: readonly PropertyKey[]): string[] {
  const schema = schemaAt(root, path);
  if (schema === undefined) return [];
  for (const s of unwrapChain(schema)) {
    const def = defOf(s);
    if (def.type === 'object') return Object.keys(def.shape ?? {});
  }
  return [];
}
