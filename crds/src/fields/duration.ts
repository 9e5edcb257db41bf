import { z } from 'zod';
import { hint } from './hints.js';

const UNITS_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a Go duration (`90s`, `1m30s`, `500ms`, `0`) into milliseconds; null when it is not one. */
export function parseDurationMs(text: string): number | null {
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (m === null) return null;
    total += Number(m[1]) * (UNITS_MS[m[2] ?? ''] ?? Number.NaN);
    at = re.lastIndex;
  }
  return text.length > 0 && Number.isFinite(total) ? total : null;
}

/** A duration in Go's syntax, as Kubernetes' metav1.Duration is written. */
export function durationField(description: string) {
  const expected = 'a duration such as 90s, 2m or 1h30m';
  return hint(
    z
      .string()
      .superRefine((text, ctx) => {
        if (parseDurationMs(text) === null) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(text)} is not ${expected}`, input: text });
      })
      .describe(description),
    expected,
  );
}
