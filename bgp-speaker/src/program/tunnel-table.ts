/**
 * TunnelTable: the applier of the tunnel devices (STYLE.md §1). `setModel`
 * records what the pools and nodes call for; `ensure()` (called by the
 * RouteTable before each route apply, so an onlink route never precedes its
 * device) plans with `planTunnels` / `planTunnelChanges` against what the
 * kernel holds on VXLAN_DEVICE and IPIP_DEVICE and runs one `ip -batch` and,
 * for FDB entries, one `bridge -batch`. It does nothing while the model is
 * unchanged since its last successful apply. A failed apply throws (the
 * RouteTable retries with back-off and fails closed).
 *
 * IPIP is probed once, the first time a pool wants it and tunl0 is missing:
 * `ip link add tunl0 type ipip` (which also loads the module where there is
 * one). If that fails and tunl0 is still absent, the kernel has no IPIP: the
 * error (ERR_KERNEL, naming the pools and CONFIG_NET_IPIP) is logged once and
 * kept in `status()`, tunl0 is reported unusable so no route uses it, and
 * everything else carries on.
 */
import { IPIP_DEVICE, VXLAN_DEVICE } from '../../../lib/contract.js';
import type { TortieError } from '../../../lib/errors.js';
import { readUplinkMtu, type FdbRunner, type IpReader, type IpWriter } from '../../../lib/kernel/ip.js';
import type { Logger } from '../../../lib/log.js';
import type { TunnelDeviceStatus } from '../config/status-file.js';
import { ipipUnsupportedError, planTunnelChanges, planTunnels, type ActualTunnels, type DesiredTunnels, type TunnelModel } from './tunnels.js';

export type TunnelIp = IpReader & IpWriter & FdbRunner;

export interface TunnelTableOptions {
  readonly ip: TunnelIp;
  readonly log?: Logger | undefined;
}

export class TunnelTable {
  readonly #o: TunnelTableOptions;
  #model: TunnelModel | null = null;
  #modelKey = 'null';
  #appliedKey: string | null = null;
  /** Survives `resync()`, to tell a repair from a change. */
  #lastAppliedKey: string | null = null;
  #desired: DesiredTunnels | null = null;
  #ipipError: TortieError | null = null;
  #uplinkMtu: { address: string | undefined; mtu: number | null } | null = null;

  constructor(options: TunnelTableOptions) {
    this.#o = options;
  }

  /** The whole desired input; the next `ensure()` applies it when it differs from the last one applied. */
  setModel(model: TunnelModel | null): void {
    this.#model = model;
    this.#modelKey = JSON.stringify(model);
  }

  /** Makes the next `ensure()` read the kernel and repair it even though the model is unchanged. */
  resync(): void {
    this.#appliedKey = null;
  }

  get isDirty(): boolean {
    return this.#appliedKey !== this.#modelKey;
  }

  /**
   * Applies the model if it changed; returns the tunnel devices routes must
   * not use (IPIP on a kernel without it, a VXLAN device that could not be
   * planned). Throws when the kernel refuses a write.
   */
  async ensure(): Promise<ReadonlySet<string>> {
    if (this.isDirty) await this.apply();
    return this.#unusable();
  }

  /** Reads our tunnel devices, plans and runs the difference. Returns the lines run (ip, then bridge). */
  async apply(): Promise<string[]> {
    const model = this.#model;
    const key = this.#modelKey;
    const isResync = this.#appliedKey === null && this.#lastAppliedKey === key;
    const ip = this.#o.ip;
    let desired: DesiredTunnels = model === null ? { vxlan: null, vxlanPools: [], vxlanPeers: [], ipip: null, problems: [] } : planTunnels(model, await this.#readUplinkMtu(model));
    let ipipLink = await ip.link(IPIP_DEVICE);
    if (desired.ipip !== null && ipipLink === null && this.#ipipError === null) {
      try {
        await ip.batch([`link add ${IPIP_DEVICE} type ipip`]);
      } catch (err) {
        // Only the device's absence afterwards says the kernel lacks IPIP (not the message text).
        if ((await ip.link(IPIP_DEVICE)) === null) {
          this.#ipipError = ipipUnsupportedError(desired.ipip.pools, err);
          this.#o.log?.error({ err: this.#ipipError, code: this.#ipipError.code, pools: desired.ipip.pools }, 'IPIP is not available on this kernel; IPIP pools are not routed');
        }
      }
      ipipLink = await ip.link(IPIP_DEVICE);
    }
    if (this.#ipipError !== null) desired = { ...desired, ipip: null };
    this.#desired = desired;
    for (const p of desired.problems) this.#o.log?.warn(p, 'tunnel device cannot be planned');

    const vxlanLink = await ip.link(VXLAN_DEVICE);
    const actual: ActualTunnels = {
      vxlan:
        vxlanLink === null
          ? { link: null, addresses: [], neighbours: [], fdb: [] }
          : {
              link: vxlanLink,
              // The link-local address and dynamic link-local neighbours are the kernel's own (IPv6 on
              // any link); permanent link-local neighbours are ours (vtepLinkLocalOf gateways).
              addresses: (await ip.addresses({ dev: VXLAN_DEVICE })).filter((a) => a.scope !== 'link').map((a) => `${a.address}/${a.prefixLength}`),
              neighbours: [...(await ip.neighbours(4, { dev: VXLAN_DEVICE })), ...(await ip.neighbours(6, { dev: VXLAN_DEVICE })).filter((n) => !/^fe[89ab]/i.test(n.dst) || n.state.includes('PERMANENT'))],
              fdb: await ip.fdb(VXLAN_DEVICE),
            },
      ipip: { link: ipipLink, addresses: ipipLink === null ? [] : (await ip.addresses({ dev: IPIP_DEVICE, family: 4 })).map((a) => `${a.address}/${a.prefixLength}`) },
    };
    const changes = planTunnelChanges(desired, actual);
    await ip.batch(changes.ip);
    await ip.bridgeBatch(changes.bridge);
    this.#appliedKey = key;
    this.#lastAppliedKey = key;
    const lines = [...changes.ip, ...changes.bridge];
    if (lines.length > 0 && isResync) this.#o.log?.warn({ commands: lines }, 'tunnel devices differed from the desired state, repaired');
    else if (lines.length > 0) this.#o.log?.debug({ commands: lines }, 'tunnel devices applied');
    return lines;
  }

  status(): TunnelDeviceStatus[] {
    const d = this.#desired;
    const model = this.#model;
    if (model === null) return [];
    const pending = this.#lastAppliedKey !== this.#modelKey;
    const out: TunnelDeviceStatus[] = [];
    const vxlanPools = model.pools.filter((p) => p.vxlanMode !== 'Never').map((p) => p.name);
    if (vxlanPools.length > 0) {
      const problem = d?.problems.find((p) => p.device === VXLAN_DEVICE);
      out.push({ name: VXLAN_DEVICE, pools: vxlanPools, state: problem !== undefined ? 'not-ready' : pending ? 'pending' : 'ready', error: problem?.message ?? null });
    }
    const ipipPools = model.pools.filter((p) => p.ipipMode !== 'Never' && !p.cidr.includes(':')).map((p) => p.name);
    if (ipipPools.length > 0) {
      const error = this.#ipipError?.message ?? null;
      out.push({ name: IPIP_DEVICE, pools: ipipPools, state: error !== null ? 'not-ready' : pending ? 'pending' : 'ready', error });
    }
    return out;
  }

  #unusable(): ReadonlySet<string> {
    const out = new Set<string>();
    if (this.#ipipError !== null) out.add(IPIP_DEVICE);
    if (this.#desired?.problems.some((p) => p.device === VXLAN_DEVICE) === true) out.add(VXLAN_DEVICE);
    return out;
  }

  /** The MTU of the link holding the node's address, else of the default route's; read once per node address. */
  async #readUplinkMtu(model: TunnelModel): Promise<number | null> {
    const address = model.localNode.address;
    if (this.#uplinkMtu !== null && this.#uplinkMtu.address === address) return this.#uplinkMtu.mtu;
    const ip = this.#o.ip;
    let mtu: number | null = null;
    const holder = address === undefined ? undefined : (await ip.addresses({ family: 4 })).find((a) => a.address === address);
    if (holder !== undefined) mtu = (await ip.link(holder.ifname))?.mtu ?? null;
    mtu ??= await readUplinkMtu(ip, 4);
    this.#uplinkMtu = { address, mtu };
    return mtu;
  }
}
