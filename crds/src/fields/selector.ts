import { z } from 'zod';
import { parseSelector } from '../../../lib/selector/parse.js';
import { hint } from './hints.js';

const SELECTOR_EXAMPLE = 'a selector such as app == "web" && has(tier), or all()';

/**
 * A Calico selector expression. It is parsed here only to check it; consumers
 * parse it again with lib/selector (the text is what is stored).
 */
export function selectorField(description: string) {
  return hint(
    z
      .string()
      .max(1024)
      .superRefine((text, ctx) => {
        const parsed = parseSelector(text);
        if (!parsed.ok) {
          const { message, column } = parsed.error;
          ctx.addIssue({
            code: 'custom',
            message: `selector ${JSON.stringify(text)} does not parse: ${message} at column ${column}; write e.g. app == "web" && has(tier), or all()`,
            input: text,
          });
        }
      })
      .describe(description),
    SELECTOR_EXAMPLE,
  );
}
