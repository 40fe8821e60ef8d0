import { SourceAction, sourceActionOf } from '../protocol/index.js';
import { ACK_BOUNDS, BucketHistogram, LAG_BOUNDS } from './bucket-histogram.js';

/**
 * Plain counters kept by the listener and its sessions. Read by the metrics collectors at scrape
 * time; nothing here is touched through prom-client on the hot path.
 */
export class SourceStats {
  connectionsOpened = 0;
  connectionsClosed = 0;
  healthChecks = 0;
  protocolErrors = 0;
  /** records received (type 3 and type 4) */
  records = 0;
  compressed = 0;
  noBins = 0;
  /** replies written, by code */
  readonly replies = new Float64Array(256);
  /** requests answered with the retry code because the ack deadline passed */
  deadlineRetries = 0;
  /** requests answered with the retry code because their worker died */
  workerLostRetries = 0;
  securityMessages = 0;
  /** LOGIN / AUTHENTICATE answered 0 */
  loginsOk = 0;
  /** LOGIN / AUTHENTICATE refused: unknown user (60), wrong credential (62), invalid token (65) */
  loginsFailed = 0;
  /** AUTHENTICATE with a genuine but expired token (66): routine, the source logs in again */
  loginsExpired = 0;
  /** records answered 80 because their connection had not logged in (or its session ended) */
  notAuthenticated = 0;
  infoMessages = 0;
  /** times a session stopped reading: window, budget, ring or reply backpressure */
  readPauses = 0;
  /** records answered with the retry code because Ferry was paused */
  pausedRetries = 0;
  /** records answered with the retry code at once because no destination connection was up */
  destinationDownRetries = 0;
  /** connections closed because the source stopped reading its replies */
  slowReaders = 0;
  /** replication lag: now − the record's LUT, in seconds */
  readonly lag = new BucketHistogram(LAG_BOUNDS);
  /** time from a request's arrival to its reply being written, in seconds */
  readonly ackLatency = new BucketHistogram(ACK_BOUNDS);

  /** Replies so far by what the source does with them. */
  replyTotals(): { success: number; retry: number; error: number } {
    let success = 0;
    let retry = 0;
    let error = 0;
    for (let code = 0; code < 256; code++) {
      const n = this.replies[code]!;
      if (n === 0) continue;
      const action = sourceActionOf(code);
      if (action === SourceAction.Done) success += n;
      else if (action === SourceAction.Retry) retry += n;
      else error += n;
    }
    return { success, retry, error };
  }
}
