/** `ferry run --config FILE`: start the daemon; SIGTERM/SIGINT drain and exit 0. */

import { parseArgs } from 'node:util';
import { loadConfigFile } from '../config/index.js';
import { Ferry } from '../main.js';

export async function runCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, options: { config: { type: 'string', short: 'c' } } });
  const config = loadConfigFile(values.config ?? '/etc/ferry/ferry.yml');
  const unsupported: string[] = [];
  if (config.raw.aerospike?.credentials !== undefined) unsupported.push('aerospike.credentials (destination authentication)');
  if (config.raw.aerospike?.tls !== undefined) unsupported.push('aerospike.tls');
  if (config.raw.service.tls !== undefined) unsupported.push('service.tls');
  if (unsupported.length > 0) {
    process.stderr.write(`ferry: this build does not support: ${unsupported.join(', ')}\n`);
    return 2;
  }
  const ferry = new Ferry(config);
  await ferry.start();
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await ferry.stop();
  return 0;
}
