/** Failures of `ferry verify`: a cluster that cannot be reached or read, and bad input. */

import { FerryError } from '../errors.js';

/** A cluster did not answer, refused the login, or a scan of it failed part-way (exit 3). */
export class VerifyClusterError extends FerryError {
  readonly code = 'ERR_VERIFY_CLUSTER';
  readonly retriable = true;
}

/** The command line or a file it names is wrong (exit 2). */
export class VerifyInputError extends FerryError {
  readonly code = 'ERR_VERIFY_INPUT';
  readonly retriable = false;
}
