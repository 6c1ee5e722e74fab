// Public API of the client module: the GatewayClient interface and its request/response shapes,
// the HTTP implementation, the failure-injecting wrapper, GatewayError and the retry policy.
// Other layers (fs, cli, src/index.ts) import from here rather than from individual files.
// Invariant: nothing here imports src/gateway (the reference gateway is an independent program).
export * from './gateway-client.js';
export * from './gateway-error.js';
export { HttpGatewayClient, CLIENT_VERSION, type HttpGatewayClientConfig, type GatewayClientStats } from './http-gateway-client.js';
export { FaultyGatewayClient, injectedNetworkError, injectedStatusError, type FaultyCall, type InjectedFailure } from './faulty-gateway-client.js';
export { DEFAULT_RETRY_POLICY, backoffDelay, isRetryable, certainlyNotSent, withRetry, type RetryPolicy, type RetryOptions } from './retry.js';
export { NdjsonParser, parseNdjson, parseBusStream, busItemToMessage, decodeBusMessage } from './ndjson.js';
