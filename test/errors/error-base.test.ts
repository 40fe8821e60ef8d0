/**
 * The one error base: every error class Ferry raises extends FerryError with a stable code, and
 * toErrorShape gives the plain data that crosses a thread boundary.
 */

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { SpecError } from '../../src/cli/load/record-factory.js';
import { UsageError } from '../../src/cli/xdr-load-command.js';
import { ConfigError } from '../../src/config/index.js';
import { FleetError } from '../../src/coordination/fleet.js';
import { InfoFormatError } from '../../src/destination/cluster-info.js';
import { LoginError } from '../../src/destination/login.js';
import { LinkError } from '../../src/destination/node-link.js';
import { TenderError } from '../../src/destination/tender.js';
import { ERR_INTERNAL, FerryError, toErrorShape } from '../../src/errors.js';
import { SystemdError } from '../../src/management/systemd.js';
import { MirrorCheckpointError, MirrorError, MirrorOptionsError } from '../../src/mirror/index.js';
import { DecodeError } from '../../src/protocol/as-msg-decoder.js';
import { ScanError } from '../../src/protocol/as-msg-reader.js';
import { ParticleError } from '../../src/protocol/index.js';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

describe('FerryError', () => {
  const samples: Array<[FerryError, string, boolean]> = [
    [new ConfigError(['service.port: bad']), 'ERR_CONFIG', false],
    [new SpecError('x'), 'ERR_OBJECT_SPEC', false],
    [new UsageError('x'), 'ERR_USAGE', false],
    [new InfoFormatError('x'), 'ERR_DESTINATION_INFO_FORMAT', false],
    [new LoginError('refused', 62, false), 'ERR_DESTINATION_LOGIN', false],
    [new LinkError('x'), 'ERR_DESTINATION_LINK', true],
    [new TenderError('x'), 'ERR_DESTINATION_CLUSTER', false],
    [new SystemdError('x', { retriable: true }), 'ERR_SYSTEMD', true],
    [new MirrorOptionsError('x'), 'ERR_MIRROR_OPTIONS', false],
    [new MirrorCheckpointError('x'), 'ERR_MIRROR_CHECKPOINT', false],
    [new MirrorError('ERR_MIRROR_UNAVAILABLE', 'x', true), 'ERR_MIRROR_UNAVAILABLE', true],
    [new DecodeError(ScanError.NoDigest), 'ERR_DECODE', false],
    [new ParticleError('x'), 'ERR_PARTICLE', false],
    [new FleetError('x'), 'ERR_FLEET_UNAVAILABLE', true],
  ];

  it.each(samples)('%s has its stable code and retriable flag', (err, code, retriable) => {
    expect(err).toBeInstanceOf(FerryError);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe(code);
    expect(err.retriable).toBe(retriable);
    // The mirror's classes keep the one name they always logged.
    expect(err.name).toBe(err instanceof MirrorError ? 'MirrorError' : err.constructor.name);
  });

  it('every error class in src extends FerryError (or a class that does)', () => {
    const classes = sourceFiles(SRC).flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/class (\w+) extends (\w+)/g)].map((m) => ({ file: f, name: m[1]!, base: m[2]! })));
    const errorNames = new Set(['FerryError']);
    // Follow the inheritance chains: a class extending a known error class is an error class too.
    for (let grew = true; grew; ) {
      grew = false;
      for (const c of classes) {
        if (errorNames.has(c.base) && !errorNames.has(c.name)) {
          errorNames.add(c.name);
          grew = true;
        }
      }
    }
    const plain = classes.filter((c) => c.base === 'Error' && c.name !== 'FerryError').map((c) => `${c.file.slice(SRC.length + 1)}: ${c.name}`);
    expect(plain).toEqual([]);
    expect(errorNames.size).toBeGreaterThan(samples.length);
  });

  it('keeps the cause', () => {
    const underneath = Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' });
    const err = new SystemdError('wrapped', { cause: underneath });
    expect(err.cause).toBe(underneath);
  });
});

describe('toErrorShape', () => {
  it('gives a FerryError its own code, message and retriable flag', () => {
    expect(toErrorShape(new LinkError('10.0.0.1:3000: closed'))).toEqual({ code: 'ERR_DESTINATION_LINK', message: '10.0.0.1:3000: closed', retriable: true });
  });

  it('keeps a system error code, and calls anything else ERR_INTERNAL', () => {
    expect(toErrorShape(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toEqual({ code: 'ECONNRESET', message: 'read ECONNRESET', retriable: false });
    expect(toErrorShape(new TypeError('x is not a function'))).toEqual({ code: ERR_INTERNAL, message: 'x is not a function', retriable: false });
    expect(toErrorShape('a string')).toEqual({ code: ERR_INTERNAL, message: 'a string', retriable: false });
    expect(toErrorShape(null)).toEqual({ code: ERR_INTERNAL, message: 'null', retriable: false });
  });

  it('crosses a message port intact, where the error object itself loses its fields', () => {
    const { port1, port2 } = new MessageChannel();
    const err = new LoginError('login refused with result 62', 62, false);
    port1.postMessage({ shape: toErrorShape(err), error: err });
    const got = receiveMessageOnPort(port2)!.message as { shape: unknown; error: { code?: unknown } };
    port1.close();
    expect(got.shape).toEqual({ code: 'ERR_DESTINATION_LOGIN', message: 'login refused with result 62', retriable: false });
    expect(got.error.code).toBeUndefined();
  });
});
