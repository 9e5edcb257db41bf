import { describe, expect, it } from 'vitest';
import { checkVersion, commandAllowed, compareVersions, versionResult, SUPPORTED_VERSIONS } from './version.js';

describe('versions', () => {
  it('VERSION lists 0.3.0 to 1.1.0 and echoes the version asked in', () => {
    expect(versionResult('1.0.0')).toEqual({ cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
    expect(versionResult(undefined).cniVersion).toBe('1.1.0');
    expect(versionResult('not-a-version').cniVersion).toBe('1.1.0');
  });
  it.each([
    ['CHECK', '0.3.1', false],
    ['CHECK', '0.4.0', true],
    ['STATUS', '1.0.0', false],
    ['STATUS', '1.1.0', true],
    ['GC', '1.0.0', false],
    ['GC', '1.1.0', true],
    ['ADD', '0.3.0', true],
    ['DEL', '0.3.0', true],
  ] as const)('%s in %s: %s', (command, version, allowed) => {
    expect(commandAllowed(command, version)).toBe(allowed);
  });
  it('orders versions numerically', () => {
    expect(compareVersions('0.10.0', '0.4.0')).toBeGreaterThan(0);
    expect([...SUPPORTED_VERSIONS].sort(compareVersions)).toEqual([...SUPPORTED_VERSIONS]);
  });
  it('an unknown version is code 1 and lists what we speak', () => {
    expect(() => checkVersion('ADD', '2.0.0')).toThrow(/supports 0\.3\.0, 0\.3\.1, 0\.4\.0, 1\.0\.0, 1\.1\.0/);
  });
});
