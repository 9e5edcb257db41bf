import { CALICO_API_VERSION, TORTIE_API_VERSION } from '../../lib/contract.js';
import { type KindInfo, kindOf } from '../../lib/datastore/kinds.js';
import type { StoredObject } from '../../lib/datastore/types.js';
import { type SourceDocument, describeDocument } from './documents.js';

/**
 * From documents to resources the datastore can take, all or nothing: every
 * document is checked before the caller writes anything, and each problem
 * becomes one line `FILE: document N (Kind/name): field.path: message`. Pure:
 * the validator is passed in (crds/src's validateResource in main.ts).
 */
export interface ValidationIssue {
  readonly path: string;
  readonly message: string;
}

export type Validator = (
  input: unknown,
) => { ok: true; kind: KindInfo; object: StoredObject } | { ok: false; issues: readonly ValidationIssue[] };

export interface Resource {
  readonly document: SourceDocument;
  readonly kind: KindInfo;
  readonly object: StoredObject;
}

export interface NamespaceOptions {
  /** `-n NS` as given on the command line; objects naming another namespace are refused, as kubectl does. */
  readonly namespace: string | undefined;
  /** Used for namespaced objects that name none and when no `-n` was given. */
  readonly defaultNamespace: string;
}

export const DEFAULT_NAMESPACE = 'default';

function issueLine(document: SourceDocument, issue: ValidationIssue): string {
  const path = issue.path === '' ? '' : `${issue.path}: `;
  return `${describeDocument(document)}: ${path}${issue.message}`;
}

/** Places a namespaced object in a namespace, or says why it can't be. Returns the problem, or null. */
function placeInNamespace(kind: KindInfo, object: StoredObject, options: NamespaceOptions): string | null {
  if (!kind.namespaced) return null;
  const own = object.metadata.namespace;
  if (own !== undefined && options.namespace !== undefined && own !== options.namespace) {
    return `metadata.namespace: is ${JSON.stringify(own)} but -n says ${JSON.stringify(options.namespace)}; drop one of them`;
  }
  if (own === undefined) object.metadata.namespace = options.namespace ?? options.defaultNamespace;
  return null;
}

export function validateDocuments(
  documents: readonly SourceDocument[],
  validate: Validator,
  namespaces: NamespaceOptions,
): { resources: Resource[]; problems: string[] } {
  const resources: Resource[] = [];
  const problems: string[] = [];
  for (const document of documents) {
    const result = validate(document.value);
    if (!result.ok) {
      const issues = result.issues.length > 0 ? result.issues : [{ path: '', message: 'is not a valid resource' }];
      problems.push(...issues.map((issue) => issueLine(document, issue)));
      continue;
    }
    const problem = placeInNamespace(result.kind, result.object, namespaces);
    if (problem !== null) {
      problems.push(`${describeDocument(document)}: ${problem}`);
      continue;
    }
    resources.push({ document, kind: result.kind, object: result.object });
  }
  return { resources, problems };
}

/** What `delete -f` needs of a document: which object it names. The rest of it need not be valid. */
export interface Target {
  readonly document: SourceDocument;
  readonly kind: KindInfo;
  readonly name: string;
  readonly namespace: string | undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Resolves `apiVersion` + `kind` as written, `projectcalico.org/v3` standing for ours. */
export function kindOfDocument(apiVersion: string, kind: string): KindInfo | undefined {
  return kindOf(apiVersion === CALICO_API_VERSION ? TORTIE_API_VERSION : apiVersion, kind);
}

export function identifyDocuments(
  documents: readonly SourceDocument[],
  namespaces: NamespaceOptions,
): { targets: Target[]; problems: string[] } {
  const targets: Target[] = [];
  const problems: string[] = [];
  for (const document of documents) {
    const fail = (issue: ValidationIssue) => problems.push(issueLine(document, issue));
    const value = document.value;
    if (!isRecord(value)) {
      fail({ path: '', message: 'is not an object' });
      continue;
    }
    const { apiVersion, kind: kindName } = value;
    if (typeof apiVersion !== 'string' || typeof kindName !== 'string') {
      fail({ path: typeof apiVersion !== 'string' ? 'apiVersion' : 'kind', message: 'is required' });
      continue;
    }
    const kind = kindOfDocument(apiVersion, kindName);
    if (kind === undefined) {
      fail({ path: 'kind', message: `${apiVersion} ${kindName} is not a kind tortie knows` });
      continue;
    }
    const metadata = isRecord(value.metadata) ? value.metadata : {};
    if (typeof metadata.name !== 'string' || metadata.name === '') {
      fail({ path: 'metadata.name', message: 'is required' });
      continue;
    }
    const own = typeof metadata.namespace === 'string' ? metadata.namespace : undefined;
    if (kind.namespaced && own !== undefined && namespaces.namespace !== undefined && own !== namespaces.namespace) {
      fail({ path: 'metadata.namespace', message: `is ${JSON.stringify(own)} but -n says ${JSON.stringify(namespaces.namespace)}; drop one of them` });
      continue;
    }
    const namespace = kind.namespaced ? (own ?? namespaces.namespace ?? namespaces.defaultNamespace) : undefined;
    targets.push({ document, kind, name: metadata.name, namespace });
  }
  return { targets, problems };
}
