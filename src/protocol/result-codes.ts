/**
 * Result codes, and what an XDR source does with each (docs/wire.md §3). Decoding bytes into a code
 * happens in the readers; interpreting a code happens only here, through one table.
 */

export const ResultCode = {
  Ok: 0,
  Unknown: 1,
  NotFound: 2,
  Generation: 3,
  Parameter: 4,
  RecordExists: 5,
  OutOfSpace: 8,
  Timeout: 9,
  Unavailable: 11,
  IncompatibleType: 12,
  RecordTooBig: 13,
  KeyBusy: 14,
  DeviceOverload: 18,
  NamespaceNotFound: 20,
  BinNameTooLong: 21,
  Forbidden: 22,
  EnterpriseOnly: 25,
  FilteredOut: 27,
  LostConflict: 28,
  XdrKeyBusy: 32,
  SecurityNotSupported: 51,
  SecurityNotConfigured: 52,
  InvalidUser: 60,
  InvalidPassword: 62,
  InvalidCredential: 65,
  ExpiredSession: 66,
  NotAuthenticated: 80,
  RoleViolation: 81,
} as const;

/** What a source does with a reply code. */
export const enum SourceAction {
  Done = 0,
  Retry = 1,
  Abandon = 2,
}

const DONE = new Set<number>([ResultCode.Ok, ResultCode.NotFound, ResultCode.LostConflict]);
const RETRY = new Set<number>([
  ResultCode.OutOfSpace,
  ResultCode.Timeout,
  ResultCode.Unavailable,
  ResultCode.KeyBusy,
  ResultCode.DeviceOverload,
  ResultCode.NotAuthenticated,
]);

/** How the source side treats `code` when Ferry replies with it. */
export function sourceActionOf(code: number): SourceAction {
  if (DONE.has(code)) return SourceAction.Done;
  if (RETRY.has(code)) return SourceAction.Retry;
  return SourceAction.Abandon;
}

/**
 * Destination codes that describe a passing condition. Ferry turns every one of them into a retry
 * reply; 32 (XDR key busy) and 80/66 (session) are transient from the destination's side too.
 */
const TRANSIENT_AT_DESTINATION = new Set<number>([
  ResultCode.OutOfSpace,
  ResultCode.Timeout,
  ResultCode.Unavailable,
  ResultCode.KeyBusy,
  ResultCode.DeviceOverload,
  ResultCode.XdrKeyBusy,
  ResultCode.ExpiredSession,
  ResultCode.NotAuthenticated,
]);

export function isTransientDestinationCode(code: number): boolean {
  return TRANSIENT_AT_DESTINATION.has(code);
}

/**
 * Destination codes that reject a record for good: every code Ferry passes back to the source as it
 * is (not done, not 27 from the last-write-wins guard, not transient). The record is parked as a
 * dead letter (src/destination/dead-letters.ts) before the source gets the code.
 */
export function isPermanentDestinationCode(code: number): boolean {
  return code > 0 && code < 256 && !DONE.has(code) && code !== ResultCode.FilteredOut && !TRANSIENT_AT_DESTINATION.has(code);
}

const CODE_TEXT: Readonly<Record<number, string>> = {
  [ResultCode.Ok]: 'ok',
  [ResultCode.Unknown]: 'server error',
  [ResultCode.NotFound]: 'record not found',
  [ResultCode.Generation]: 'generation error',
  [ResultCode.Parameter]: 'parameter error',
  [ResultCode.RecordExists]: 'record exists',
  [ResultCode.OutOfSpace]: 'out of space',
  [ResultCode.Timeout]: 'timeout',
  [ResultCode.Unavailable]: 'unavailable',
  [ResultCode.IncompatibleType]: 'bin type error',
  [ResultCode.RecordTooBig]: 'record too big',
  [ResultCode.KeyBusy]: 'key busy',
  [ResultCode.DeviceOverload]: 'device overload',
  [ResultCode.NamespaceNotFound]: 'namespace not found',
  [ResultCode.BinNameTooLong]: 'bin name too long',
  [ResultCode.Forbidden]: 'forbidden',
  [ResultCode.EnterpriseOnly]: 'enterprise only',
  [ResultCode.FilteredOut]: 'filtered out',
  [ResultCode.LostConflict]: 'lost conflict',
  [ResultCode.XdrKeyBusy]: 'XDR key busy',
  [ResultCode.SecurityNotSupported]: 'security not supported',
  [ResultCode.SecurityNotConfigured]: 'security not configured',
  [ResultCode.InvalidUser]: 'invalid user',
  [ResultCode.InvalidPassword]: 'invalid password',
  [ResultCode.InvalidCredential]: 'invalid credential',
  [ResultCode.ExpiredSession]: 'expired session',
  [ResultCode.NotAuthenticated]: 'not authenticated',
  [ResultCode.RoleViolation]: 'role violation',
};

/** A short text for a result code (the server sends only the number); every ResultCode has one. */
export function resultCodeText(code: number): string {
  return CODE_TEXT[code] ?? `result code ${code}`;
}
