import { parseCidr } from '../../../lib/cidr.js';
import type { FailsafePort } from '../model/config.js';
import { accept, anonSet, match, meta, payload, rule, type NftObject, type NftStatement } from './nft-json.js';

/**
 * Failsafe rules: host traffic on control-plane ports (SSH, BGP, the API
 * server, etcd, DNS...) is accepted before any policy, so no policy can cut
 * the node off. Inbound they match the destination port of traffic to the
 * host, outbound the destination port of traffic from it. One rule per
 * protocol (and per peer net, when a port is limited to one).
 */
export function renderFailsafe(chainName: string, ports: readonly FailsafePort[], direction: 'inbound' | 'outbound'): NftObject[] {
  const groups = new Map<string, { protocol: string; net: string | null; ports: number[] }>();
  for (const p of ports) {
    const key = `${p.protocol} ${p.net ?? ''}`;
    const g = groups.get(key) ?? { protocol: p.protocol, net: p.net, ports: [] };
    if (!g.ports.includes(p.port)) g.ports.push(p.port);
    groups.set(key, g);
  }
  const out: NftObject[] = [];
  for (const key of [...groups.keys()].sort()) {
    const g = groups.get(key)!;
    const expr: NftStatement[] = [match(meta('l4proto'), '==', g.protocol.toLowerCase())];
    if (g.net !== null) {
      const c = parseCidr(g.net);
      if (!c) continue;
      const [addr, len] = g.net.split('/') as [string, string];
      expr.push(match(payload(c.family === 4 ? 'ip' : 'ip6', direction === 'inbound' ? 'saddr' : 'daddr'), '==', { prefix: { addr, len: Number(len) } }));
    }
    expr.push(match(payload('th', 'dport'), '==', anonSet([...g.ports].sort((a, b) => a - b))));
    expr.push(accept);
    out.push(rule(chainName, expr, `failsafe ${direction} ${g.protocol}${g.net ? ` ${g.net}` : ''}`));
  }
  return out;
}
