/**
 * The mirror's errors: one base class with a stable `code` callers match on, and `retriable`, which
 * decides between "back off and reconnect" and "stop with a non-zero exit code".
 */

import { FerryError } from '../errors.js';

export class MirrorError extends FerryError {
  constructor(
    readonly code: string,
    message: string,
    readonly retriable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MirrorError';
  }
}

/** A bad flag or configuration value; the message names the option and the rule. */
export class MirrorOptionsError extends MirrorError {
  constructor(message: string) {
    super('ERR_MIRROR_OPTIONS', message, false);
  }
}

/** Two mirrors would write overlapping destination keys, and overlap is not allowed. */
export class MirrorOverlapError extends MirrorError {
  constructor(message: string) {
    super('ERR_MIRROR_OVERLAP', message, false);
  }
}

/**
 * The checkpoint moved under us (another process runs the same mirror), belongs to a mirror of
 * another source cluster (a reused name), or cannot be read (it was written by something else).
 * Continuing would apply events twice or skip them, or delete the other mirror's keys.
 */
export class MirrorCheckpointError extends MirrorError {
  constructor(message: string) {
    super('ERR_MIRROR_CHECKPOINT', message, false);
  }
}

/** The source compacted past the revision the mirror needs; the mirror resyncs (never fatal). */
export class MirrorCompactedError extends MirrorError {
  constructor(
    readonly wanted: number,
    readonly compactRevision: number,
  ) {
    super('ERR_MIRROR_COMPACTED', `the source has compacted to revision ${compactRevision}, past revision ${wanted}`, true);
  }
}

/** etcd refused for a reason no retry fixes: authentication, permission, a request over its limits. */
export class MirrorEtcdError extends MirrorError {
  constructor(
    readonly side: 'source' | 'destination',
    message: string,
    retriable: boolean,
    cause?: unknown,
  ) {
    super(retriable ? 'ERR_MIRROR_UNAVAILABLE' : 'ERR_MIRROR_REJECTED', `${side}: ${message}`, retriable, { cause });
  }
}
