/**
 * CNI spec versions (pure). We speak 0.3.0, 0.3.1, 0.4.0, 1.0.0 and 1.1.0:
 * results are printed in the version the config declares (result.ts), and a
 * command the declared version does not have is refused with code 1, as the
 * reference plugins' skel does (CHECK arrived in 0.4.0, STATUS and GC in 1.1.0).
 */
import { CniError, CniErrorCodes } from './errors.js';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];
export const LATEST_VERSION: CniVersion = '1.1.0';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'] as const;
export type CniCommand = (typeof COMMANDS)[number];

/** The first spec version that has each command. */
const COMMAND_SINCE: Record<CniCommand, CniVersion | '0.1.0'> = {
  ADD: '0.1.0',
  DEL: '0.1.0',
  VERSION: '0.1.0',
  CHECK: '0.4.0',
  STATUS: '1.1.0',
  GC: '1.1.0',
};

export function isSupportedVersion(version: string): version is CniVersion {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(version);
}

/** `[major, minor, patch]` of a version string, or null when it is not one. */
export function parseVersion(version: string): [number, number, number] | null {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
  return m === null ? null : [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** Negative, zero or positive as a is older than, equal to or newer than b. */
export function compareVersions(a: string, b: string): number {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  if (pa === null || pb === null) throw new Error(`bug: compareVersions(${JSON.stringify(a)}, ${JSON.stringify(b)})`);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i]! - pb[i]!;
  return 0;
}

/** True for the 1.x result format (no `version` in `ips`); false for 0.3.x/0.4.0. */
export function isVersion1(version: CniVersion): boolean {
  return version.startsWith('1.');
}

export function commandAllowed(command: CniCommand, version: CniVersion): boolean {
  return compareVersions(version, COMMAND_SINCE[command]) >= 0;
}

/** Throws code 1 unless we speak this version and it has this command. */
export function checkVersion(command: CniCommand, version: string): CniVersion {
  if (!isSupportedVersion(version)) {
    throw new CniError(
      CniErrorCodes.IncompatibleVersion,
      `incompatible CNI versions: the config declares cniVersion ${JSON.stringify(version)}; this plugin supports ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
  if (!commandAllowed(command, version)) {
    throw new CniError(
      CniErrorCodes.IncompatibleVersion,
      `the config declares cniVersion ${version}, which has no ${command} command (it needs ${COMMAND_SINCE[command]} or later)`,
    );
  }
  return version;
}

export interface VersionResult {
  cniVersion: string;
  supportedVersions: string[];
}

/**
 * The VERSION answer. `cniVersion` echoes the version on stdin when there is
 * one we know, else our latest (a runtime may send no config at all).
 */
export function versionResult(requested: string | undefined): VersionResult {
  const cniVersion = requested !== undefined && parseVersion(requested) !== null ? requested : LATEST_VERSION;
  return { cniVersion, supportedVersions: [...SUPPORTED_VERSIONS] };
}
