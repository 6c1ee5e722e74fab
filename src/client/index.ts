// Public API of the client module: the GatewayClient interface, its implementations and the
// GatewayError type. Other layers (fs, cli) import from here, never from individual files.
export * from './gateway-client.js';
export * from './gateway-error.js';
