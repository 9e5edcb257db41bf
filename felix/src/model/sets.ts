import type { Labels } from '../../../lib/selector/ast.js';
import type { ConvertResult } from './endpoints.js';

/** A GlobalNetworkSet: labelled CIDRs that rule selectors can match like endpoints. */
export interface NetworkSetModel {
  readonly name: string;
  readonly labels: Labels;
  /** Canonical CIDR strings (`10.0.0.0/8`, `2001:db8::/32`). */
  readonly nets: readonly string[];
}

export function fromGlobalNetworkSet(gns: {
  metadata: { name?: string; labels?: Record<string, string> | null };
  spec?: { nets?: readonly string[] | null };
}): ConvertResult<NetworkSetModel> {
  if (!gns.metadata.name) return { ok: false, error: 'metadata.name is required' };
  return {
    ok: true,
    value: { name: gns.metadata.name, labels: { ...(gns.metadata.labels ?? {}) }, nets: [...(gns.spec?.nets ?? [])] },
  };
}
