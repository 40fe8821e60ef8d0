/**
 * Reading the files a configuration points at (passwords, tokens, TLS material), at start-up. A problem is
 * collected with the key's path (`service.tls.key-file: cannot read /x (no such file)`), so every
 * bad file is reported at once.
 */

import { readFileSync } from 'node:fs';

/** Why a file could not be read, in words. */
export function unreadable(err: unknown): string {
  const code = (err as { code?: string }).code;
  return code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'a directory, not a file' : (err as Error).message;
}

export function readConfigFile(path: string, key: string, problems: string[]): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    problems.push(`${key}: cannot read ${path} (${unreadable(err)})`);
    return undefined;
  }
}

/** A secret file's first line: only the line ending (\n or \r\n) is removed; spaces are kept. */
export function readFirstLine(path: string, key: string, problems: string[]): string | undefined {
  const buf = readConfigFile(path, key, problems);
  if (buf === undefined) return undefined;
  const text = buf.toString('utf8');
  const nl = text.indexOf('\n');
  const line = nl < 0 ? text : text.slice(0, nl);
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

/**
 * The management token file's first line. An empty one is a problem: every request would match it
 * with no Authorization header at all.
 */
export function readTokenFile(path: string, key: string, problems: string[]): string | undefined {
  const line = readFirstLine(path, key, problems);
  if (line === '') problems.push(`${key}: ${path} holds no token (its first line is empty)`);
  return line === '' ? undefined : line;
}
