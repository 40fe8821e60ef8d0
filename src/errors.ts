/**
 * Ferry's one error base: every failure Ferry raises is a subclass with a stable `code` callers
 * match on (README, "Error codes"), a `retriable` flag (trying again later may succeed), and the
 * standard `cause` (the error underneath, e.g. a system error carrying `EADDRINUSE`).
 *
 * This module imports nothing, on purpose: every layer may import it, `protocol/` and `config/`
 * included, without gaining a dependency on any other part of Ferry.
 *
 * Errors do not cross threads (a structured clone drops the class and its fields); send
 * `toErrorShape(err)` instead.
 */

export abstract class FerryError extends Error {
  abstract readonly code: string;
  abstract readonly retriable: boolean;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An error as plain data, for postMessage and shared rings. */
export interface ErrorShape {
  readonly code: string;
  readonly message: string;
  readonly retriable: boolean;
}

/** The code of an error that is not a FerryError and carries no string code of its own. */
export const ERR_INTERNAL = 'ERR_INTERNAL';

/**
 * Any thrown value as `{code, message, retriable}`. A FerryError keeps its own; a Node system error
 * keeps its string code (`ECONNRESET`) and is not marked retriable, since only the layer that
 * raised it knows; anything else is `ERR_INTERNAL`.
 */
export function toErrorShape(err: unknown): ErrorShape {
  if (err instanceof FerryError) return { code: err.code, message: err.message, retriable: err.retriable };
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return { code: typeof code === 'string' ? code : ERR_INTERNAL, message, retriable: false };
}
