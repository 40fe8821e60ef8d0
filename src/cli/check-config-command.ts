/**
 * `ferry check-config FILE [--syntax-only]` (or `--config FILE`, as `ferry run` takes it): validate
 * a configuration the way `ferry run` does, check the files it points at (unless --syntax-only, for
 * checking a file away from the host it runs on), and print the effective configuration with
 * defaults filled in (computed ones too: src/config/effective.ts), secrets masked, and a comment for
 * each value another key lowers.
 * Exit 0 when valid, 2 otherwise.
 */

import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { ConfigError, checkReferencedFiles, effectiveConfig, explainClamps, explainLastWriteWins, explainRecordOrdering, loadRunConfigFile, maskSecrets } from '../config/index.js';
import { logFileProblem } from '../management/logger.js';
import { MirrorError, resolveMirrorsSection } from '../mirror/index.js';

export const CHECK_CONFIG_USAGE = `usage: ferry check-config FILE [--syntax-only]
       ferry check-config --config FILE [--syntax-only]
  --syntax-only   check the file alone, not the files it names (password, TLS, transform module)
Validates a configuration as ferry run would, and prints it with defaults filled in and secrets
masked. Exit 0 when valid, 2 otherwise.`;

export function checkConfigCommand(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: { 'syntax-only': { type: 'boolean' }, config: { type: 'string', short: 'c' } },
  });
  const files = values.config === undefined ? positionals : [values.config, ...positionals];
  const file = files[0];
  if (file === undefined || files.length > 1) {
    process.stderr.write(`${CHECK_CONFIG_USAGE}\n`);
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
    const logFile = config.logging.file === undefined ? null : logFileProblem(config.logging.file);
    if (logFile !== null) problems.push(logFile);
    if (problems.length > 0) throw new ConfigError(problems.map((p) => `${file}: ${p}`));
  }
  process.stdout.write(`# ${file}: valid. Effective configuration (defaults filled in, secrets masked):\n`);
  process.stdout.write(stringify(maskSecrets(effectiveConfig(config))));
  for (const line of [...explainClamps(config), ...explainLastWriteWins(config), ...explainRecordOrdering(config)]) process.stdout.write(`# ${line}\n`);
  return 0;
}
