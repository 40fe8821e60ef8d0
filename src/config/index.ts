export {
  type AerospikeDestination,
  ConfigError,
  type FerryConfig,
  type FileDestination,
  type RunConfig,
  type SourceSecuritySettings,
  type SourceTlsSettings,
  buildConfig,
  buildRunConfig,
  loadConfigFile,
  loadRunConfigFile,
} from './load-config.js';
export { checkReferencedFiles, managementToken, maskSecrets } from './referenced-files.js';
export { readConfigFile, readFirstLine, readTokenFile } from './config-files.js';
export { RELOAD_KEYS, type ReloadClass, changedKeys, classifyChanges, reloadClassOf } from './reload-keys.js';
export { explainClamps, explainLastWriteWins, explainRecordOrdering } from './explain.js';
export { effectiveConfig } from './effective.js';
