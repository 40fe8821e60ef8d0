export { AerospikeSink } from './aerospike-sink.js';
export { type ChangeRecord, toChangeRecord } from './change-record.js';
export { type ConnectionEvents, DestinationConnection } from './connection.js';
export { FileSink } from './file-sink.js';
export { InfoError, requestInfo } from './info-client.js';
export { OUTCOME_SLOTS, Outcome } from './outcome.js';
export type { RecordSink, SinkEvents } from './record-sink.js';
export type { DestinationSettings, PolicySettings } from './settings.js';
export { WritePolicy, type WritePolicyOptions } from './write-policy.js';
