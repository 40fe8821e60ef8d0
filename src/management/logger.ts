/**
 * pino, with the XDR Proxy's logger names (`root`, `server`, `record-parser`, …) as child loggers
 * whose levels come from `logging.levels`. Logs go to stdout (journald) or to `logging.file`.
 */

import { pino, type Logger, type Level } from 'pino';

export interface LoggingSettings {
  file?: string | undefined;
  'enable-console-logging': boolean;
  levels: Record<string, string>;
}

function levelOf(v: string | undefined, fallback: Level | 'silent'): Level | 'silent' {
  if (v === undefined) return fallback;
  return v === 'off' ? 'silent' : (v as Level | 'silent');
}

export class Logging {
  readonly root: Logger;
  private readonly children = new Map<string, Logger>();

  constructor(private settings: LoggingSettings) {
    const destination = settings.file !== undefined ? pino.destination({ dest: settings.file, mkdir: true, sync: false }) : pino.destination({ dest: 1, sync: false });
    const rootLevel = settings['enable-console-logging'] || settings.file !== undefined ? levelOf(settings.levels['root'], 'info') : 'silent';
    this.root = pino({ level: rootLevel, base: { name: 'ferry' }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
  }

  /** A named logger; its level is `logging.levels[name]`, else the root level. */
  get(name: string): Logger {
    let child = this.children.get(name);
    if (child === undefined) {
      child = this.root.child({ logger: name });
      child.level = levelOf(this.settings.levels[name], this.root.level as Level);
      this.children.set(name, child);
    }
    return child;
  }

  flush(): void {
    this.root.flush();
  }
}
