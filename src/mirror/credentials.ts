/**
 * etcdctl's rule for a user and password given to a cluster without authentication: the server
 * refuses the token exchange ("authentication is not enabled"), and the client carries on without
 * a token. A client opened with credentials can have them withdrawn; dropUnusedCredentials() decides,
 * before anything else is sent to the cluster, whether it uses them.
 */

import { Etcd3, type IOptions } from 'etcd3';

const AUTH_NOT_ENABLED = /etcdserver: authentication is not enabled/;

/** Clients opened with a user and password: whether they still send them, and whether that was settled. */
const withdrawable = new WeakMap<Etcd3, { send: boolean; settled: boolean }>();

/** A client for `options` that logs in as `username`, unless dropUnusedCredentials() withdraws them. */
export function clientWithCredentials(options: IOptions, username: string, password: string): Etcd3 {
  const state = { send: true, settled: false };
  const auth = { username, password };
  // The client reads its options' auth before every token exchange: a getter lets the credentials go.
  Object.defineProperty(options, 'auth', { enumerable: true, get: () => (state.send ? auth : undefined) });
  const client = new Etcd3(options);
  withdrawable.set(client, state);
  return client;
}

/**
 * Whether `client`'s cluster has authentication off, in which case its credentials are withdrawn
 * (true, once). Rejects with the client's error as any request does (wrong password, no answer).
 */
export async function dropUnusedCredentials(client: Etcd3): Promise<boolean> {
  const state = withdrawable.get(client);
  if (state === undefined || state.settled) return false;
  try {
    // Status needs no permission: with authentication on, any user's token will do.
    await client.maintenance.status();
  } catch (err) {
    if (!AUTH_NOT_ENABLED.test(err instanceof Error ? err.message : String(err))) throw err;
    state.send = false;
  }
  state.settled = true;
  return !state.send;
}
