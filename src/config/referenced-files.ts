/**
 * Files a configuration points at (password, token, TLS material, the transform module): each must exist and be
 * readable when Ferry starts, and a source login's password and the management token must not be
 * empty. `ferry run` checks them before it starts and before it applies a reload, and check-config
 * checks them the same way, with the key path in the message.
 */

import { accessSync, constants, statSync } from 'node:fs';
import { readFirstLine, readTokenFile } from './config-files.js';
import { ConfigError } from './load-config.js';
import type { RawConfig } from './schema.js';

function check(path: string, key: string, problems: string[]): void {
  try {
    accessSync(path, constants.R_OK);
    if (!statSync(path).isFile()) problems.push(`${key}: ${path} is not a file`);
  } catch (err) {
    const code = (err as { code?: string }).code;
    problems.push(`${key}: cannot read ${path} (${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message})`);
  }
}

export function checkReferencedFiles(raw: RawConfig): string[] {
  const problems: string[] = [];
  const cred = raw.aerospike?.credentials;
  if (cred?.['password-file'] !== undefined) check(cred['password-file'], 'aerospike.credentials.password-file', problems);
  // As ferry run reads them (source/source-security.ts): a source login needs a password.
  raw.service.security?.users.forEach((u, i) => {
    const key = `service.security.users.${i}.password-file`;
    if (readFirstLine(u['password-file'], key, problems) === '') problems.push(`${key}: ${u['password-file']} holds no password (its first line is empty)`);
  });
  const transform = raw.aerospike?.transform;
  if (transform !== undefined) check(transform, 'aerospike.transform', problems);
  const token = raw.service.manage['token-file'];
  if (token !== undefined) readTokenFile(token, 'service.manage.token-file', problems);
  const sourceCred = raw.fleet?.source?.credentials;
  if (sourceCred?.['password-file'] !== undefined) check(sourceCred['password-file'], 'fleet.source.credentials.password-file', problems);
  const fleet = raw.fleet;
  for (const key of ['cacert', 'cert', 'key', 'password-file'] as const) {
    const path = fleet?.[key];
    if (path !== undefined) check(path, `fleet.${key}`, problems);
  }
  const serviceTls = raw.service.tls;
  if (serviceTls !== undefined) {
    for (const key of ['key-file', 'cert-chain-file', 'ca-file', 'key-store-file', 'key-store-password-file', 'trust-store-file', 'trust-store-password-file'] as const) {
      const path = serviceTls[key];
      if (path !== undefined) check(path, `service.tls.${key}`, problems);
    }
  }
  // Towards a cluster only PEM files are taken (the schema refuses the stores).
  for (const [section, tls] of [
    ['aerospike.tls', raw.aerospike?.tls],
    ['fleet.source.tls', raw.fleet?.source?.tls],
  ] as const) {
    if (tls === undefined) continue;
    for (const key of ['key-file', 'cert-chain-file', 'ca-file'] as const) {
      const path = tls[key];
      if (path !== undefined) check(path, `${section}.${key}`, problems);
    }
  }
  return problems;
}

/** service.manage's bearer token (undefined without a token file); an unreadable or empty file is a ConfigError. */
export function managementToken(raw: RawConfig): string | undefined {
  const file = raw.service.manage['token-file'];
  if (file === undefined) return undefined;
  const problems: string[] = [];
  const token = readTokenFile(file, 'service.manage.token-file', problems);
  if (token === undefined) throw new ConfigError(problems);
  return token;
}

const SECRET_KEY = /password$|token$|secret$|^credential$/i;

/** A copy with every value under a secret-looking key replaced by "********". */
export function maskSecrets(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(maskSecrets);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, SECRET_KEY.test(k) && typeof x === 'string' ? '********' : maskSecrets(x)]));
  }
  return v;
}
