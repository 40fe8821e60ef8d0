export { MirrorError, MirrorOptionsError, MirrorOverlapError, MirrorCheckpointError } from './errors.js';
export { Mirror, type MirrorRunSettings, type SyncedEvent } from './mirror.js';
export { MirrorStats, type MirrorPhase } from './mirror-stats.js';
export type { MirrorLogger } from './mirror-logger.js';
export {
  type EtcdClusterOptions,
  type MirrorOptions,
  type MirrorSpec,
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_MAX_TXN_OPS,
  type MirrorMode,
  defaultMirrorName,
  describeCluster,
  resolveMirrorOptions,
} from './mirror-options.js';
export { StatusReporter, renderProgress, renderStatus } from './status-reporter.js';
export { MirrorGroup, type MirrorsReloadReport, type MirrorsSection, resolveMirrorsSection } from './mirror-group.js';
