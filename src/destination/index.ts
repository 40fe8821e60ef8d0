export { AerospikeSink } from './aerospike-sink.js';
export type { ChangeRecord } from './change-record.js';
export { FileSink } from './file-sink.js';
export { OUTCOME_SLOTS, Outcome } from './outcome.js';
export { PartitionMapWriter, newPartitionMapBuffer } from './partition-map.js';
export type { RecordSink, SinkEvents } from './record-sink.js';
export { SessionShare, newSessionBuffer } from './session-share.js';
export type { DestinationSettings, PolicySettings } from './settings.js';
export { Tender } from './tender.js';
