import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../lib/errors.js';
import { ExitCode, exitCodeFor } from './exit-codes.js';

describe('exitCodeFor', () => {
  it.each([
    ['ERR_VALIDATION', ExitCode.InvalidInput],
    ['ERR_USAGE', ExitCode.Usage],
    ['ERR_CONFIG_INVALID', ExitCode.Usage],
    ['ERR_DATASTORE_NOT_FOUND', ExitCode.Refused],
    ['ERR_DATASTORE_ALREADY_EXISTS', ExitCode.Refused],
    ['ERR_DATASTORE_CONFLICT', ExitCode.Refused],
    ['ERR_DATASTORE_UNAVAILABLE', ExitCode.Unavailable],
  ] as const)('%s exits %i', (code, exit) => {
    expect(exitCodeFor(code)).toBe(exit);
  });

  it('every error code has an exit code between 1 and 4', () => {
    for (const code of ErrorCodes) expect([1, 2, 3, 4]).toContain(exitCodeFor(code));
  });
});
