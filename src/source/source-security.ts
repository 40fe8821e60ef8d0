/**
 * What `service.security` and `service.tls` become at start-up: the login checker and the TLS
 * server options, with every file read now. A file that is missing, unreadable or holds bad key
 * material is a ConfigError naming its key, raised before anything listens; every such problem is
 * reported at once.
 */

import { ConfigError, type FerryConfig, type SourceSecuritySettings } from '../config/index.js';
import { readFirstLine } from '../config/index.js';
import { SourceAuth, type SourceUser } from './source-auth.js';
import { type SourceTls, loadSourceTls } from './source-tls.js';

export interface SourceSecurity {
  /** null: security is off and LOGIN is answered 52 */
  auth: SourceAuth | null;
  /** null: the service port speaks plain TCP */
  tls: SourceTls | null;
}

function loadAuth(sec: SourceSecuritySettings): SourceAuth {
  const problems: string[] = [];
  const users: SourceUser[] = [];
  for (const u of sec.users) {
    const password = readFirstLine(u.passwordFile, u.key, problems);
    if (password === undefined) continue;
    if (password === '') problems.push(`${u.key}: ${u.passwordFile} holds no password (its first line is empty)`);
    else users.push({ username: u.username, password });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return new SourceAuth(users, sec.sessionTtlS);
}

export function loadSourceSecurity(service: FerryConfig['service']): SourceSecurity {
  const problems: string[] = [];
  const attempt = <T>(load: () => T): T | null => {
    try {
      return load();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
      return null;
    }
  };
  const sec = service.security;
  const tlsSettings = service.tls;
  const auth = sec === null ? null : attempt(() => loadAuth(sec));
  const tls = tlsSettings === null ? null : attempt(() => loadSourceTls(tlsSettings));
  if (problems.length > 0) throw new ConfigError(problems);
  return { auth, tls };
}
