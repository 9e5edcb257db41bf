/**
 * Our own check that a CRD schema is "structural" as Kubernetes requires
 * (apiextensions.k8s.io/v1, "Specifying a structural schema"), so a schema
 * change that the API server would refuse fails a unit test here instead.
 */

const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);

/** Keywords of Kubernetes' JSONSchemaProps; anything else is refused by the API server. */
const KNOWN_KEYS = new Set([
  'description', 'type', 'format', 'title', 'default', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum',
  'maxLength', 'minLength', 'pattern', 'maxItems', 'minItems', 'uniqueItems', 'multipleOf', 'enum', 'maxProperties',
  'minProperties', 'required', 'items', 'allOf', 'oneOf', 'anyOf', 'not', 'properties', 'additionalProperties',
  'nullable', 'example', 'externalDocs',
]);

type Node = { [key: string]: unknown };

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Problems that would make Kubernetes refuse the schema, each with its JSON path; [] when structural. */
export function findStructuralProblems(root: unknown): string[] {
  const problems: string[] = [];
  if (!isNode(root) || root.type !== 'object') return ['(root): must be an object schema with type: object'];
  const props = isNode(root.properties) ? root.properties : {};
  if (props.metadata !== undefined && JSON.stringify(props.metadata) !== JSON.stringify({ type: 'object' })) {
    problems.push('properties.metadata: may only say type: object (Kubernetes owns metadata)');
  }
  visit(root, '', problems);
  return problems;
}

function visit(node: Node, path: string, problems: string[]): void {
  const at = path === '' ? '(root)' : path;
  for (const key of Object.keys(node)) {
    if (!KNOWN_KEYS.has(key) && !key.startsWith('x-kubernetes-')) problems.push(`${at}: unknown keyword ${key}`);
  }
  if (node.additionalProperties === false) problems.push(`${at}: additionalProperties: false is not allowed`);
  if (node.properties !== undefined && node.additionalProperties !== undefined) problems.push(`${at}: properties and additionalProperties together`);
  const intOrString = node['x-kubernetes-int-or-string'] === true;
  const preserve = node['x-kubernetes-preserve-unknown-fields'] === true;
  if (intOrString && node.type !== undefined) problems.push(`${at}: x-kubernetes-int-or-string with a type`);
  if (!intOrString && !preserve && node.type === undefined) problems.push(`${at}: no type`);
  if (node.type !== undefined && (typeof node.type !== 'string' || !TYPES.has(node.type))) problems.push(`${at}: type ${JSON.stringify(node.type)} is not one of ${[...TYPES].join(', ')}`);
  if (node.type === 'array' && !isNode(node.items)) problems.push(`${at}: array without items`);
  if (node.type !== 'object' && (node.properties !== undefined || node.additionalProperties !== undefined)) problems.push(`${at}: properties on a non-object`);
  if (node.nullable !== undefined && typeof node.nullable !== 'boolean') problems.push(`${at}: nullable must be a boolean`);
  for (const combinator of ['anyOf', 'oneOf', 'allOf', 'not']) {
    if (node[combinator] !== undefined) problems.push(`${at}: ${combinator} is not structural here; use x-kubernetes-int-or-string or one type`);
  }
  if (Array.isArray(node.enum)) {
    const expected = node.type === 'integer' || node.type === 'number' ? 'number' : node.type === 'boolean' ? 'boolean' : 'string';
    for (const v of node.enum) if (typeof v !== expected) problems.push(`${at}: enum value ${JSON.stringify(v)} is not a ${String(node.type)}`);
  }
  if (node.required !== undefined) {
    if (!Array.isArray(node.required)) problems.push(`${at}: required must be a list`);
    else for (const r of node.required) if (!isNode(node.properties) || !(String(r) in node.properties)) problems.push(`${at}: required field ${String(r)} has no schema`);
  }
  if (typeof node.pattern === 'string') {
    try {
      new RegExp(node.pattern, 'u');
    } catch {
      // The pattern itself is the problem being reported; nothing else to do with the error.
      problems.push(`${at}: pattern ${node.pattern} does not compile`);
    }
  }
  if (isNode(node.properties)) {
    for (const [name, child] of Object.entries(node.properties)) {
      if (isNode(child)) visit(child, path === '' ? `properties.${name}` : `${path}.properties.${name}`, problems);
      else problems.push(`${at}.properties.${name}: not a schema`);
    }
  }
  if (isNode(node.items)) visit(node.items, `${at}.items`, problems);
  if (isNode(node.additionalProperties)) visit(node.additionalProperties, `${at}.additionalProperties`, problems);
}
