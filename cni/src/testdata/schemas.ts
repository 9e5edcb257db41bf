/**
 * The CNI spec's output formats as JSON Schemas (the *.schema.json files
 * beside this one, written from SPEC.md §5), for tests to check what the
 * plugin prints: unit tests on the builders here, and integration tests on the
 * real executables' stdout. A schema is turned into a validator by zod's
 * `fromJSONSchema`, so the check is independent of the zod code in result.ts.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export type SpecOutput = 'result' | 'error' | 'version';

const load = (file: string) => z.fromJSONSchema(JSON.parse(readFileSync(new URL(`./${file}`, import.meta.url), 'utf8')));

const validators = {
  'result-0.4.0': load('result-0.4.0.schema.json'),
  'result-1.0.0': load('result-1.0.0.schema.json'),
  'result-1.1.0': load('result-1.1.0.schema.json'),
  error: load('error.schema.json'),
  version: load('version.schema.json'),
};

/** Which schema a printed object must satisfy. */
function schemaFor(kind: SpecOutput, json: unknown): keyof typeof validators {
  if (kind !== 'result') return kind;
  const v = (json as { cniVersion?: unknown }).cniVersion;
  if (v === '1.1.0') return 'result-1.1.0';
  if (v === '1.0.0') return 'result-1.0.0';
  return 'result-0.4.0';
}

/** Problems with a printed object (empty when it is spec-valid). Results also get the checks a schema cannot say. */
export function specProblems(kind: SpecOutput, json: unknown): string[] {
  const parsed = validators[schemaFor(kind, json)].safeParse(json);
  const problems = parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  if (kind === 'result' && typeof json === 'object' && json !== null) {
    const r = json as { interfaces?: unknown[]; ips?: { interface?: number; address?: string; version?: string }[] };
    r.ips?.forEach((ip, n) => {
      if (ip.interface !== undefined && (r.interfaces === undefined || ip.interface >= r.interfaces.length)) {
        problems.push(`ips.${n}.interface: ${ip.interface} is not an index into interfaces`);
      }
      if (ip.version !== undefined && ip.address !== undefined && (ip.version === '6') !== ip.address.includes(':')) {
        problems.push(`ips.${n}.version: ${ip.version} does not match ${ip.address}`);
      }
    });
  }
  return problems;
}
