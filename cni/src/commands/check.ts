/**
 * CHECK: the kernel still holds what ADD made for the addresses in
 * prevResult. Any difference is an error naming each one.
 */
import { parseCidr } from '../../../lib/cidr.js';
import { readAttachment } from '../attach.js';
import { CniError, CniErrorCodes } from '../errors.js';
import { diffAttachment, planAttachment, type PodAddress } from '../plan.js';
import type { CniRequest } from '../request.js';
import type { CniDeps } from './deps.js';
import { workloadOf } from './workload.js';

export async function cmdCheck(req: CniRequest, deps: CniDeps): Promise<void> {
  const w = workloadOf(req);
  const prev = req.prevResult;
  if (prev === null) throw new CniError(CniErrorCodes.InvalidNetworkConfig, 'CHECK needs prevResult (the result of the ADD)');
  const podIndex = prev.interfaces.findIndex((i) => i.name === w.ifName && i.sandbox !== undefined);
  const addresses: PodAddress[] = prev.ips
    .filter((ip) => ip.interface === undefined || ip.interface === podIndex)
    .flatMap((ip) => {
      const c = parseCidr(ip.address);
      if (c === null) return [];
      return [{ family: c.family, address: ip.address.split('/')[0] ?? '', prefixLength: c.family === 4 ? (32 as const) : (128 as const) }];
    });
  const mtu = prev.interfaces[podIndex]?.mtu;
  const plan = planAttachment({ ...w, netnsPath: req.netns ?? '', addresses, mtu: mtu ?? 1500 });
  const actual = await readAttachment(plan, deps.runners);
  // Without an MTU in prevResult (before 1.1.0) there is nothing to compare it with.
  const problems = diffAttachment(mtu === undefined && actual.podLink !== null ? { ...plan, mtu: actual.podLink.mtu } : plan, actual);
  if (problems.length > 0) {
    throw new CniError(CniErrorCodes.Kernel, `CHECK found ${problems.length} difference(s): ${problems[0]}`, { details: problems.join('\n') });
  }
}
