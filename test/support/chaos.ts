/**
 * Scale for the failure scenarios: CI runs the short versions; `npm run test:chaos` sets
 * FERRY_CHAOS=1 for the long ones (minutes, not hours).
 */
export const CHAOS = process.env['FERRY_CHAOS'] === '1';

/** `short` normally, `long` under test:chaos. */
export function scale(short: number, long: number): number {
  return CHAOS ? long : short;
}

/** user+sys CPU seconds of a process (all its threads), from /proc. */
export async function cpuSeconds(pid: number): Promise<number> {
  const { readFileSync } = await import('node:fs');
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Resident set size of a process in MiB, from /proc. */
export async function rssMiB(pid: number): Promise<number> {
  const { readFileSync } = await import('node:fs');
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) / 1024;
}
