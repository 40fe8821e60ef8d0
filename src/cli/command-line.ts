/** The `ferry` command's commands: `run` (the default), `check-config`, `xdr-load`, `mirror`, `fleet`, `replay` and `verify`. */

import { ConfigError } from '../config/index.js';
import { CHECK_CONFIG_USAGE, checkConfigCommand } from './check-config-command.js';
import { releaseHeldSignals } from './early-signals.js';
import { FLEET_USAGE, fleetCommand } from './fleet-command.js';
import { MIRROR_USAGE, mirrorCommand } from './mirror-command.js';
import { REPLAY_USAGE, replayCommand } from './replay-command.js';
import { RUN_USAGE, runCommand } from './run-command.js';
import { VERIFY_USAGE, verifyCommand } from './verify-command.js';
import { UsageError, XDR_LOAD_USAGE, xdrLoadCommand } from './xdr-load-command.js';

const USAGE = `usage: ferry [run] --config FILE     start the replication daemon (ferry run --help)
       ferry check-config FILE        validate a configuration, print it with defaults (ferry check-config --help)
       ferry xdr-load [options]       ship XDR-shaped changes (ferry xdr-load --help)
       ferry mirror [options] DEST    mirror an etcd prefix into another cluster (ferry mirror --help)
       ferry fleet status --config FILE   list the members of the fleet (ferry fleet --help)
       ferry replay FILE... --config FILE  send dead letters again (ferry replay --help)
       ferry verify [options]         compare a source and a destination cluster (ferry verify --help)`;

const DESTINATION_STARTUP_ERRORS = new Set(['ERR_DESTINATION_LOGIN', 'ERR_DESTINATION_CLUSTER']);

/** Commands with a usage text of their own, printed for `--help` (and `-h` where it is not a flag). */
const SUBCOMMANDS = new Map<string, { usage: string; run: (args: string[]) => Promise<number> | number; shortHelp: boolean }>([
  ['run', { usage: RUN_USAGE, run: runCommand, shortHelp: true }],
  ['check-config', { usage: CHECK_CONFIG_USAGE, run: checkConfigCommand, shortHelp: true }],
  // xdr-load's -h names the hosts, as asbenchmark's does
  ['xdr-load', { usage: XDR_LOAD_USAGE, run: xdrLoadCommand, shortHelp: false }],
  ['mirror', { usage: MIRROR_USAGE, run: mirrorCommand, shortHelp: true }],
  ['fleet', { usage: FLEET_USAGE, run: fleetCommand, shortHelp: true }],
  ['replay', { usage: REPLAY_USAGE, run: replayCommand, shortHelp: true }],
  ['verify', { usage: VERIFY_USAGE, run: verifyCommand, shortHelp: true }],
]);

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const sub = cmd === undefined ? undefined : SUBCOMMANDS.get(cmd);
  if (sub !== undefined) {
    if (rest.includes('--help') || (sub.shortHelp && rest.includes('-h'))) {
      releaseHeldSignals();
      process.stdout.write(`${sub.usage}\n`);
      return 0;
    }
    // `ferry run` takes the signals held while the commands loaded as it installs its handlers;
    // any other command gets them now.
    if (sub.run !== runCommand) releaseHeldSignals();
    return sub.run(rest);
  }
  if (cmd === '--help' || cmd === 'help') {
    releaseHeldSignals();
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  // No command: run, whose options (--config) may come first.
  if (cmd === undefined || cmd.startsWith('-')) {
    if (argv.includes('-h') || argv.includes('--help')) {
      releaseHeldSignals();
      process.stdout.write(`${RUN_USAGE}\n`);
      return 0;
    }
    return runCommand(argv);
  }
  releaseHeldSignals();
  process.stderr.write(`ferry: unknown command '${cmd}'\n${USAGE}\n`);
  return 2;
}

/**
 * Once a command has returned, nothing may keep the process alive (a peer that never closes its
 * socket, a timer left behind): exit after this grace, which lets the log flush.
 */
const EXIT_GRACE_MS = 2000;

// A reader that goes away (`ferry check-config FILE | head -1`) ends the output, not the command
// with a stack trace: exit as the shell expects of a command whose pipe closed.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`ferry: invalid configuration:\n${err.problems.map((p) => `  ${p}`).join('\n')}\n`);
      process.exitCode = 2;
    } else if (DESTINATION_STARTUP_ERRORS.has((err as { code?: string }).code ?? '')) {
      // A wrong password or the wrong cluster: say so and stop, rather than retry forever.
      process.stderr.write(`ferry: cannot start: ${(err as Error).message}\n`);
      process.exitCode = 2;
    } else if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true || (err as { code?: string }).code === 'ERR_OBJECT_SPEC') {
      process.stderr.write(`ferry: ${(err as Error).message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`ferry: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  },
).finally(() => setTimeout(() => process.exit(), EXIT_GRACE_MS).unref());
