export { AerospikeSink } from './aerospike-sink.js';
export type { ChangeRecord } from './change-record.js';
export { FileSink } from './file-sink.js';
export type { RecordSink, SinkEvents } from './record-sink.js';
export { Tender } from './tender.js';
