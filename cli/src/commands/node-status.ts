import { readFile } from 'node:fs/promises';
import { DEFAULT_STATUS_FILE, type PeerStatus, type SpeakerStatusFile } from '../../../bgp-speaker/src/config/status-file.js';
import type { CommandContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';

/**
 * `tortie node status [-o json]`: this host's BGP sessions, as
 * `calicoctl node status` shows them (PEER ADDRESS | PEER TYPE | STATE | SINCE
 * | INFO), plus the prefixes received and sent. Read from the status file the
 * node agent's speaker writes (TORTIE_STATUS_FILE, default
 * /var/run/tortie/bgp-status.json); when there is none, or the process that
 * wrote it is gone, it says the node agent is not running and exits 4.
 */
export const NodeStatusOutputs = ['table', 'json'] as const;
export type NodeStatusOutput = (typeof NodeStatusOutputs)[number];

const pad2 = (n: number) => String(n).padStart(2, '0');

/** calicoctl's SINCE: the time of day when it was today, else the date. */
export function formatSince(since: string, now: Date): string {
  const t = new Date(since);
  if (Number.isNaN(t.getTime())) return since;
  const sameDay = t.getUTCFullYear() === now.getUTCFullYear() && t.getUTCMonth() === now.getUTCMonth() && t.getUTCDate() === now.getUTCDate();
  return sameDay ? `${pad2(t.getUTCHours())}:${pad2(t.getUTCMinutes())}:${pad2(t.getUTCSeconds())}` : `${t.getUTCFullYear()}-${pad2(t.getUTCMonth() + 1)}-${pad2(t.getUTCDate())}`;
}

/** BIRD's protocol state as calicoctl shows it: `up` when Established, else `start`. */
function stateOf(p: PeerStatus): string {
  return p.state === 'Established' ? 'up' : 'start';
}

function infoOf(p: PeerStatus): string {
  const parts = [p.state];
  if (p.state !== 'Established' && p.lastError !== null) parts.push(p.lastError);
  if (p.hasUnappliedPassword) parts.push('(password not applied: no TCP-MD5)');
  return parts.join(' ');
}

function boxTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+\n`;
  const centre = (text: string, width: number) => {
    const left = Math.floor((width - text.length) / 2);
    return `${' '.repeat(left)}${text}${' '.repeat(width - text.length - left)}`;
  };
  const line = (cells: readonly string[], isHeader: boolean) =>
    `|${widths.map((w, i) => ` ${isHeader ? centre(cells[i] ?? '', w) : (cells[i] ?? '').padEnd(w)} `).join('|')}|\n`;
  return rule + line(headers, true) + rule + rows.map((r) => line(r, false)).join('') + rule;
}

const HEADERS = ['PEER ADDRESS', 'PEER TYPE', 'STATE', 'SINCE', 'INFO', 'RECEIVED', 'SENT'];

/** The text `tortie node status` prints for a running node agent. Pure. */
export function renderNodeStatus(status: SpeakerStatusFile, now: Date): string {
  const out = [`tortie node agent is running (node ${status.node}, pid ${status.pid}${status.localAsn === null ? '' : `, AS ${status.localAsn}`}${status.routerId === null ? '' : `, router id ${status.routerId}`}).\n`];
  for (const [family, label] of [
    [4, 'IPv4'],
    [6, 'IPv6'],
  ] as const) {
    const peers = status.peers.filter((p) => (p.peerAddress.includes(':') ? 6 : 4) === family);
    out.push(`\n${label} BGP status\n`);
    if (peers.length === 0) {
      out.push(`No ${label} peers found.\n`);
      continue;
    }
    const rows = peers.map((p) => [
      p.peerPort === 179 ? p.peerAddress : `${p.peerAddress}:${p.peerPort}`,
      p.type,
      stateOf(p),
      formatSince(p.since, now),
      infoOf(p),
      String(p.prefixesReceived),
      String(p.prefixesSent),
    ]);
    out.push(boxTable(HEADERS, rows));
  }
  const tunnels = status.tunnels ?? [];
  if (tunnels.length > 0) {
    out.push('\nTunnel devices\n');
    out.push(boxTable(['DEVICE', 'STATE', 'POOLS', 'INFO'], tunnels.map((t) => [t.name, t.state, t.pools.join(','), t.error ?? ''])));
  }
  return out.join('');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but is someone else's (we are not root): it runs.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function runNodeStatus(ctx: CommandContext, flags: { output: NodeStatusOutput; statusFile?: string | undefined }): Promise<ExitCode> {
  const file = flags.statusFile ?? process.env.TORTIE_STATUS_FILE ?? DEFAULT_STATUS_FILE;
  let status: SpeakerStatusFile;
  try {
    status = JSON.parse(await readFile(file, 'utf8')) as SpeakerStatusFile;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    ctx.stderr(
      code === 'ENOENT'
        ? `tortie node agent is not running on this host (no status file ${file}); start the tortie-node pod, or set TORTIE_STATUS_FILE\n`
        : `cannot read the node agent's status file ${file}: ${(err as Error).message}\n`,
    );
    return ExitCode.Unavailable;
  }
  if (!isAlive(status.pid)) {
    ctx.stderr(`tortie node agent is not running on this host (pid ${status.pid}, which wrote ${file} at ${status.updatedAt}, has exited)\n`);
    return ExitCode.Unavailable;
  }
  ctx.stdout(flags.output === 'json' ? `${JSON.stringify(status, null, 2)}\n` : renderNodeStatus(status, new Date()));
  return ExitCode.Ok;
}
