export { type AerospikeDestination, ConfigError, type FerryConfig, type FileDestination, buildConfig, loadConfigFile } from './load-config.js';
export { checkReferencedFiles, maskSecrets } from './referenced-files.js';
