export type { BinValue, RecordToWrite, SourceRecord, Transform, TransformResult, UserKey } from './api.js';
export { SKIP } from './api.js';
export { FANOUT_CONNECTION, FanOuts } from './fan-out.js';
export { TransformError } from './errors.js';
export { checkTransform, importTransform } from './load.js';
export { type Made, TransformStage } from './transform-stage.js';
