/** Flag parsing for the bench scripts: a bad flag is one plain line and exit 2, not a stack trace. */

import { cpus } from 'node:os';
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** Ferry's own default worker count (one per CPU but one), as a flag default. */
export const DEFAULT_WORKERS = String(Math.max(1, cpus().length - 1));

export function usageError(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

export function parseFlags<O extends NonNullable<ParseArgsConfig['options']>>(options: O): ReturnType<typeof parseArgs<{ options: O; strict: true }>>['values'] {
  try {
    return parseArgs({ options, strict: true }).values;
  } catch (err) {
    return usageError((err as Error).message);
  }
}

/** An integer flag's value, at least `min`. */
export function intFlag(name: string, value: unknown, min: number): number {
  const n = Number(value);
  if (typeof value !== 'string' || !Number.isInteger(n) || n < min) usageError(`--${name} must be an integer ≥ ${min}, got '${String(value)}'`);
  return n;
}
