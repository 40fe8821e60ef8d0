export { type ConnectionEvents, DestinationConnection } from './connection.js';
export { InfoError, requestInfo } from './info-client.js';
export { WritePolicy, type WritePolicyOptions } from './write-policy.js';
