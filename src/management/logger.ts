/**
 * pino, with the XDR Proxy's logger names (`root`, `server`, `record-parser`, …) as child loggers
 * whose levels come from `logging.levels` and can change at run time. Logs go to stdout (journald),
 * or to `logging.file`, rotated daily and keeping `max-history` files (pino-roll, in pino's
 * transport thread).
 */

import { type Level, type Logger, pino } from 'pino';

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
  private readonly configured: Record<string, string>;

  constructor(settings: LoggingSettings) {
    const toFile = settings.file !== undefined;
    const destination = toFile
      ? pino.transport({
          target: 'pino-roll',
          // Files are named <name>.<date>.<n>.log; current.log beside them links to the live one.
          options: { file: settings.file, frequency: 'daily', mkdir: true, symlink: true, limit: { count: settings['max-history'] ?? 7 } },
        })
      : pino.destination({ dest: 1, sync: false });
    const on = settings['enable-console-logging'] || toFile;
    this.configured = { ...settings.levels };
    const rootLevel = on ? pinoLevel(settings.levels['root'] ?? 'info') : 'silent';
    this.root = pino({ level: rootLevel, base: { name: 'ferry' }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
  }

  /** A named logger; its level is `logging.levels[name]`, else the root level. */
  get(name: string): Logger {
    let child = this.children.get(name);
    if (child === undefined) {
      child = this.root.child({ logger: name });
      child.level = this.root.level === 'silent' ? 'silent' : pinoLevel(this.configured[name] ?? this.root.level);
      this.children.set(name, child);
    }
    return child;
  }

  levels(): Record<string, string> {
    const out: Record<string, string> = { ...this.configured, root: this.root.level };
    for (const [name, child] of this.children) out[name] = child.level;
    return out;
  }

  /** Set levels by logger name. Returns problems; nothing is applied when there are any. */
  setLevels(levels: Record<string, unknown>): string[] {
    const problems: string[] = [];
    for (const [name, level] of Object.entries(levels)) {
      if (typeof level !== 'string' || !LEVELS.has(level)) problems.push(`${name}: level must be one of ${[...LEVELS].join(', ')}`);
    }
    if (problems.length > 0) return problems;
    for (const [name, level] of Object.entries(levels) as Array<[string, string]>) {
      this.configured[name] = level;
      if (name === 'root') this.root.level = pinoLevel(level);
      else this.get(name).level = pinoLevel(level);
    }
    return [];
  }

  flush(): void {
    this.root.flush();
  }
}
