import { FerryError } from '../errors.js';

/** A transform module threw, or returned what cannot be written: the record fails (code 11). */
export class TransformError extends FerryError {
  readonly code = 'ERR_TRANSFORM';
  readonly retriable = true;
}
