export {
  type AerospikeDestination,
  ConfigError,
  type FerryConfig,
  type FileDestination,
  type RunConfig,
  buildConfig,
  buildRunConfig,
  loadConfigFile,
  loadRunConfigFile,
} from './load-config.js';
export { checkReferencedFiles, maskSecrets } from './referenced-files.js';
