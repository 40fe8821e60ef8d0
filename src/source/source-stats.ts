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
  infoMessages = 0;
  /** times a session stopped reading: window, budget, ring or reply backpressure */
  readPauses = 0;
}
