import { readFileSync } from 'node:fs';
import { isProcessAlive } from '../../infra/ports';

/**
 * True when `pid` is alive and its command line contains `marker`: after a reboot or a
 * crash, a pid in a stale state file may belong to a stranger, who must not be signalled.
 */
export function isOurProcess(pid: number | undefined, marker?: string): boolean {
  if (!pid || pid <= 0 || !isProcessAlive(pid)) return false;
  if (!marker) return true;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').includes(marker);
  } catch {
    return process.platform !== 'linux';
  }
}
