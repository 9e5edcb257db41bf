import { describe, expect, it } from 'vitest';
import { TortieError } from '../../lib/errors.js';
import { CniError, CniErrorCodes, cniErrorFrom, toCniErrorJson } from './errors.js';

describe('CNI errors', () => {
  it('a CniError passes through with its code and details', () => {
    const e = new CniError(CniErrorCodes.InvalidNetworkConfig, 'invalid network configuration: config.mtu: too small', { details: 'config.mtu: too small' });
    expect(toCniErrorJson(e, '1.0.0')).toEqual({ cniVersion: '1.0.0', code: 7, msg: e.message, details: 'config.mtu: too small' });
  });
  it.each([
    ['ERR_DATASTORE_CONFLICT', 11],
    ['ERR_DATASTORE_UNAVAILABLE', 11],
    ['ERR_IPAM_EXHAUSTED', 100],
    ['ERR_IPAM_ADDRESS_IN_USE', 101],
    ['ERR_IPAM_NO_POOL', 102],
    ['ERR_CONFIG_INVALID', 7],
    ['ERR_KERNEL', 103],
  ] as const)('TortieError %s becomes code %s', (code, cni) => {
    const e = cniErrorFrom(new TortieError(code, 'something'));
    expect(e.code).toBe(cni);
    expect(e.details).toContain(code);
  });
  it('anything else is 999 with its message', () => {
    expect(toCniErrorJson(new Error('boom'), '0.4.0')).toEqual({ cniVersion: '0.4.0', code: 999, msg: 'boom' });
    expect(toCniErrorJson(new TortieError('ERR_USAGE', 'usage'), '1.1.0').code).toBe(999);
  });
});
