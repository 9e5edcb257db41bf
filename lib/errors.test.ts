import { describe, expect, it } from 'vitest';
import { TortieError, hasErrorCode } from './errors.js';

describe('TortieError', () => {
  it('carries a stable code and its cause', () => {
    const cause = new Error('socket closed');
    const err = new TortieError('ERR_DATASTORE_UNAVAILABLE', 'etcd at http://127.0.0.1:2379 is unreachable', { cause });
    expect(err.code).toBe('ERR_DATASTORE_UNAVAILABLE');
    expect(err.cause).toBe(cause);
    expect(hasErrorCode(err, 'ERR_DATASTORE_UNAVAILABLE')).toBe(true);
    expect(hasErrorCode(err, 'ERR_DATASTORE_CONFLICT')).toBe(false);
  });

  it('is recognised by code even across copies of the class', () => {
    expect(hasErrorCode({ code: 'ERR_USAGE' }, 'ERR_USAGE')).toBe(true);
    expect(hasErrorCode(null, 'ERR_USAGE')).toBe(false);
  });
});
