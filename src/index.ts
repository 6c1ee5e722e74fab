// Public programmatic API of the `aether` package (package.json "main"). Everything the CLI does
// is available here as library calls: the local gateway, the gateway client, the local CAS, the
// configuration loader and the CLI itself (in-process, with injected streams).
// Invariant: only re-exports; importing this module has no side effects beyond loading modules.
// Callers: programs embedding Aether; tests.

// The local AetherFS gateway (reference implementation of openapi.yaml).
export { startGateway, createTenantToken, openGatewayData, GATEWAY_VERSION, type GatewayOptions, type RunningGateway } from './gateway/server.js';

// The gateway client (one method per public route) and its errors.
export {
  HttpGatewayClient,
  FaultyGatewayClient,
  GatewayError,
  GatewayErrorCode,
  isGatewayError,
  int64ToNumber,
  int64ToWire,
  type GatewayClient,
  type HttpGatewayClientConfig,
} from './client/index.js';
export { createGatewayClient, type ClientTarget, type ClientFactory } from './cli/client-factory.js';

// The local content-addressed cache.
export { DiskCas, type DiskCasOptions } from './cas/disk-cas.js';
export { MemoryCas } from './cas/memory-cas.js';
export { type CasStore, type CasStats, CAS_CONFIG_DEFAULTS } from './cas/cas-store.js';
export { parseSize, formatBytes } from './cas/size.js';

// Configuration: AETHER_HOME layout, the flags → env → profile → defaults merge, profiles.
export { loadConfig, aetherPaths, resolveHome, ProfileStore, type AetherConfig, type LoadedConfig, type ConfigFlags, type AetherPaths } from './config/index.js';

// Errors and exit codes.
export { AetherError, UserError, EXIT_CODES, isAetherError, type ErrorKind } from './shared/errors.js';
export { createLogger, type Logger, type LogLevel } from './shared/log.js';

// The CLI, in-process, and the embedded local gateway it manages.
export { main, run, VERSION, type MainDeps } from './cli/main.js';
export { type CliIO } from './cli/io.js';
export { ensureEmbeddedGateway, stopEmbeddedGateway, readEmbeddedState, type EmbeddedGateway, type EmbeddedGatewayState } from './cli/embedded-gateway.js';

// Protocol types (wire shapes of openapi.yaml).
export type * from './protocol/types.js';
