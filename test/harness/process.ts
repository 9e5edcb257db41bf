import type { ChildProcess } from 'node:child_process';

/**
 * Stops a child we started: SIGTERM, then SIGKILL if it has not exited within
 * `graceMs`. A child that already exited (or never got a pid) is left alone.
 */
export async function stopProcess(child: ChildProcess | null, graceMs = 3_000): Promise<void> {
  if (child === null || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<boolean>((resolve) => child.once('exit', () => resolve(true)));
  process.kill(child.pid, 'SIGTERM');
  const done = await Promise.race([exited, new Promise<boolean>((r) => setTimeout(() => r(false), graceMs))]);
  if (!done && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
}
