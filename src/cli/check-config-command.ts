/**
 * `ferry check-config FILE [--syntax-only]`: validate a configuration the way `ferry run` does, check
 * the files it points at (unless --syntax-only, for checking a file away from the host it runs on),
 * and print the effective configuration with defaults filled in and secrets masked.
 * Exit 0 when valid, 2 otherwise.
 */

import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { ConfigError, checkReferencedFiles, explainLastWriteWins, loadRunConfigFile, maskSecrets } from '../config/index.js';
import { MirrorError, resolveMirrorsSection } from '../mirror/index.js';

export function checkConfigCommand(argv: string[]): number {
  const { values, positionals } = parseArgs({ args: argv, strict: true, allowPositionals: true, options: { 'syntax-only': { type: 'boolean' } } });
  const file = positionals[0];
  if (file === undefined || positionals.length > 1) {
    process.stderr.write('usage: ferry check-config FILE [--syntax-only]\n');
    return 2;
  }
  const config = loadRunConfigFile(file);
  if (config.raw.mirrors !== undefined) {
    try {
      resolveMirrorsSection(config.raw.mirrors);
    } catch (err) {
      if (err instanceof MirrorError) throw new ConfigError([`${file}: ${err.message}`]);
      throw err;
    }
  }
  if (values['syntax-only'] !== true) {
    const problems = checkReferencedFiles(config.raw);
    if (problems.length > 0) throw new ConfigError(problems.map((p) => `${file}: ${p}`));
  }
  process.stdout.write(`# ${file}: valid. Effective configuration (defaults filled in, secrets masked):\n`);
  process.stdout.write(stringify(maskSecrets(config.raw)));
  for (const line of explainLastWriteWins(config)) process.stdout.write(`# ${line}\n`);
  return 0;
}
