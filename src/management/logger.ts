/**
 * pino, with the XDR Proxy's logger names (`root`, `server`, `record-parser`, …) as child loggers
 * whose levels come from `logging.levels` and can change at run time. Logs go to stdout (journald),
 * or to `logging.file`, rotated daily and keeping `max-history` files (pino-roll, in pino's
 * transport thread).
 */

import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type Level, type Logger, pino } from 'pino';
import { ConfigError } from '../config/index.js';

export interface LoggingSettings {
  file?: string | undefined;
  'enable-console-logging': boolean;
  levels: Record<string, string>;
  'max-history'?: number;
}

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent', 'off']);

function pinoLevel(v: string): Level | 'silent' {
  return v === 'off' ? 'silent' : (v as Level | 'silent');
}

export class Logging {
  readonly root: Logger;
  private readonly children = new Map<string, Logger>();
  /** `logging.levels` as last set: a name not in it follows `root` */
  private configured: Record<string, string>;
  /** false when lines go nowhere (no console, no file): every logger is then silent */
  private readonly on: boolean;

  /** Throws a ConfigError when `logging.file` cannot be created (see logFileProblem). */
  constructor(settings: LoggingSettings) {
    const file = settings.file;
    const toFile = file !== undefined;
    if (toFile) {
      const problem = logFileProblem(file);
      if (problem !== null) throw new ConfigError([problem]);
    }
    const destination = toFile ? fileTransport(file, settings['max-history'] ?? 7) : pino.destination({ dest: 1, sync: false });
    this.on = settings['enable-console-logging'] || toFile;
    this.configured = { ...settings.levels };
    this.root = pino({ level: this.levelOf('root'), base: { name: 'ferry' }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
  }

  /** A named logger; its level is `logging.levels[name]`, else the root level. */
  get(name: string): Logger {
    let child = this.children.get(name);
    if (child === undefined) {
      child = this.root.child({ logger: name });
      child.level = this.levelOf(name);
      this.children.set(name, child);
    }
    return child;
  }

  /** Every logger's level, as `logging.levels` spells them (`off`, not pino's `silent`). */
  levels(): Record<string, string> {
    const out: Record<string, string> = { ...this.configured, root: this.root.level };
    for (const [name, child] of this.children) out[name] = child.level;
    for (const [name, level] of Object.entries(out)) if (level === 'silent') out[name] = 'off';
    return out;
  }

  /**
   * Set the levels of the loggers named (the management API's PUT): the others keep theirs, and
   * those without a level of their own follow a new `root`. Returns problems; nothing is applied
   * when there are any.
   */
  setLevels(levels: Record<string, unknown>): string[] {
    const problems = levelProblems(levels);
    if (problems.length === 0) this.apply({ ...this.configured, ...(levels as Record<string, string>) });
    return problems;
  }

  /**
   * Make `levels` the whole of `logging.levels` (a reload): a logger the file no longer names goes
   * back to following `root`.
   */
  replaceLevels(levels: Record<string, unknown>): string[] {
    const problems = levelProblems(levels);
    if (problems.length === 0) this.apply({ ...(levels as Record<string, string>) });
    return problems;
  }

  flush(): void {
    this.root.flush();
  }

  private apply(configured: Record<string, string>): void {
    this.configured = configured;
    this.root.level = this.levelOf('root');
    for (const [name, child] of this.children) child.level = this.levelOf(name);
  }

  private levelOf(name: string): Level | 'silent' {
    return this.on ? pinoLevel(this.configured[name] ?? this.configured['root'] ?? 'info') : 'silent';
  }
}

/**
 * Why `logging.file` cannot be used, or null. pino-roll creates the folders missing on the way and
 * then writes beside `file` (<name>.<date>.<n>.log, current.log), so the nearest folder on the
 * path that exists must be a folder Ferry may write in. Checked before the transport starts: in its
 * thread a failure is only an 'error' event, after start-up has gone on.
 */
export function logFileProblem(file: string): string | null {
  // pino-roll names the files app.<date>.<n>.log in a path that ends with a slash.
  let dir = file.endsWith('/') ? resolve(file) : dirname(resolve(file));
  for (;;) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(dir).isDirectory();
    } catch (err) {
      const code = (err as { code?: string }).code;
      // Missing (or under a file, which the next step up finds): pino-roll would create it.
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(dir) !== dir) {
        dir = dirname(dir);
        continue;
      }
      return `logging.file: cannot create ${file} (${dir}: ${(err as Error).message})`;
    }
    if (!isDirectory) return `logging.file: cannot create ${file} (${dir} is a file, not a directory)`;
    try {
      accessSync(dir, constants.W_OK | constants.X_OK);
    } catch (err) {
      const code = (err as { code?: string }).code;
      return `logging.file: cannot create ${file} (${dir}: ${code === 'EACCES' ? 'permission denied' : code === 'EROFS' ? 'read-only file system' : (err as Error).message})`;
    }
    return null;
  }
}

/**
 * pino-roll in pino's transport thread. A failure there (the disk full or gone) ends the transport
 * and comes back as an 'error' event, again for every line after it: reported once on stderr (the
 * log itself is what failed), never thrown, so the daemon replicates on without its log.
 */
function fileTransport(file: string, maxHistory: number): pino.DestinationStream {
  const transport = pino.transport({
    target: 'pino-roll',
    // Files are named <name>.<date>.<n>.log; current.log beside them links to the live one.
    options: { file, frequency: 'daily', dateFormat: 'yyyy-MM-dd', mkdir: true, symlink: true, limit: { count: maxHistory } },
  });
  let reported = false;
  transport.on('error', (err: Error) => {
    if (reported) return;
    reported = true;
    process.stderr.write(`ferry: logging.file: cannot write ${file} (${err.message}); no more lines are logged until Ferry restarts\n`);
  });
  return transport;
}

function levelProblems(levels: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const [name, level] of Object.entries(levels)) {
    if (typeof level !== 'string' || !LEVELS.has(level)) problems.push(`${name}: level must be one of ${[...LEVELS].join(', ')}`);
  }
  return problems;
}

/**
 * Bounds repeated log lines: the first line for a key (say, a cause and the peer's host) is logged
 * at once, then at most one per `intervalMs`. Lines in between are only counted, and the next line
 * logged for the key carries that count (`suppressed`). A client reconnecting in a tight loop
 * thus costs one line per interval instead of one per connection; counters and metrics still see
 * every event.
 *
 * The key table holds at most `maxKeys` keys, least recently logged evicted first (a Map keeps
 * insertion order, and a logged key is re-inserted at the end). An evicted key's next line is
 * logged at once, so a flood from more than `maxKeys` keys is bounded by its rate of new keys.
 */
export class LogLimiter {
  private readonly keys = new Map<string, { loggedAt: number; suppressed: number }>();

  constructor(
    readonly intervalMs = 10_000,
    readonly maxKeys = 1024,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Whether a line for `key` may be logged now: null when it is to be suppressed, else how many
   * lines for the key were suppressed since the last one logged.
   */
  admit(key: string): number | null {
    const t = this.now();
    const entry = this.keys.get(key);
    if (entry !== undefined && t - entry.loggedAt < this.intervalMs) {
      entry.suppressed++;
      return null;
    }
    const suppressed = entry?.suppressed ?? 0;
    this.keys.delete(key);
    this.keys.set(key, { loggedAt: t, suppressed: 0 });
    if (this.keys.size > this.maxKeys) this.keys.delete(this.keys.keys().next().value!);
    return suppressed;
  }

  /** Keys held (bounded by maxKeys). */
  get size(): number {
    return this.keys.size;
  }
}
