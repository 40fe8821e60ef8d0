export { ConfigError, type FerryConfig, buildConfig, loadConfigFile } from './load-config.js';
