/**
 * Log levels by logger name (src/management/logger.ts): `root` is the default of every logger that
 * has no level of its own, at start and after any change, and a reload makes the file's
 * `logging.levels` the whole truth again.
 */

import { describe, expect, it } from 'vitest';
import { Logging } from '../../src/management/logger.js';

const console_ = (levels: Record<string, string>): Logging => new Logging({ 'enable-console-logging': true, levels });

describe('Logging levels', () => {
  it('a new root level reaches every logger without a level of its own, made before or after', () => {
    const logging = console_({ root: 'info', 'record-parser': 'debug' });
    const server = logging.get('server');
    const parser = logging.get('record-parser');
    expect(server.level).toBe('info');
    expect(parser.level).toBe('debug');
    expect(logging.setLevels({ root: 'warn' })).toEqual([]);
    expect(server.level).toBe('warn');
    expect(parser.level).toBe('debug');
    expect(logging.get('ticker').level).toBe('warn');
    expect(logging.levels()).toMatchObject({ root: 'warn', server: 'warn', 'record-parser': 'debug', ticker: 'warn' });
  });

  it('setLevels changes only the names given; replaceLevels sends a name the file dropped back to root', () => {
    const logging = console_({ root: 'info' });
    const parser = logging.get('record-parser');
    const server = logging.get('server');
    logging.setLevels({ 'record-parser': 'debug' });
    logging.setLevels({ server: 'error' });
    expect(parser.level).toBe('debug');
    expect(server.level).toBe('error');
    expect(logging.replaceLevels({ root: 'info', server: 'error' })).toEqual([]);
    expect(parser.level).toBe('info');
    expect(server.level).toBe('error');
    expect(logging.levels()['record-parser']).toBe('info');
  });

  it('reports off as off, and refuses an unknown level without changing anything', () => {
    const logging = console_({ root: 'info' });
    const ticker = logging.get('ticker');
    logging.setLevels({ ticker: 'off' });
    expect(ticker.level).toBe('silent');
    expect(logging.levels()['ticker']).toBe('off');
    expect(logging.setLevels({ root: 'loud', server: 'warn' })).toEqual(['root: level must be one of trace, debug, info, warn, error, fatal, silent, off']);
    expect(logging.get('server').level).toBe('info');
    expect(logging.replaceLevels({ root: 'WARNING' })).toHaveLength(1);
    expect(logging.root.level).toBe('info');
  });

  it('with neither the console nor a file every logger stays silent, whatever the levels say', () => {
    const logging = new Logging({ 'enable-console-logging': false, levels: { root: 'debug' } });
    expect(logging.get('server').level).toBe('silent');
    logging.setLevels({ root: 'info', server: 'debug' });
    expect(logging.root.level).toBe('silent');
    expect(logging.get('server').level).toBe('silent');
  });
});
