import type { LinkAddress } from './node-link.js';

/**
 * Try each seed in turn until one is added; returns null on the first success, else what each seed
 * said. An error `isFatal` accepts (a refused login, a wrong cluster) is thrown at once: no other
 * seed would answer differently.
 */
export async function addFirstSeed(seeds: readonly LinkAddress[], add: (seed: LinkAddress) => Promise<unknown>, isFatal: (err: unknown) => boolean = () => false): Promise<string[] | null> {
  const errors: string[] = [];
  for (const seed of seeds) {
    try {
      await add(seed);
      return null;
    } catch (err) {
      if (isFatal(err)) throw err;
      errors.push(`${seed.host}:${seed.port}: ${(err as Error).message}`);
    }
  }
  return errors;
}
