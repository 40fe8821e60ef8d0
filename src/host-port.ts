/**
 * An address and port as one string for logs and messages: an IPv6 address in brackets
 * (`[::1]:8901`, as URLs write it), so the port cannot be read as part of the address.
 */

import { isIPv6 } from 'node:net';

export function hostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}
