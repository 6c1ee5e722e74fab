// How the CLI builds a GatewayClient for a gateway target. One seam, so in-process tests can swap
// in a fake or faulty client (main(argv, io, {clientFactory})) and every command gets the same
// timeouts and retry policy.
// Callers: cli/context.ts, cli/commands/login.ts (token validation), cli/doctor.ts.
import { HttpGatewayClient, type GatewayClient } from '../client/index.js';
import type { Logger } from '../shared/log.js';

export interface ClientTarget {
  url: string;
  /** Omitted for unauthenticated probes (healthz). */
  token?: string;
  logger?: Logger;
  /** Retries for retryable failures (default: the client's own). */
  retries?: number;
}

export type ClientFactory = (target: ClientTarget) => GatewayClient;

/** The production factory: an HttpGatewayClient. */
export const createGatewayClient: ClientFactory = (t) =>
  new HttpGatewayClient({
    baseUrl: t.url,
    token: t.token,
    logger: t.logger,
    userAgent: 'aether-cli',
    ...(t.retries !== undefined ? { retries: t.retries } : {}),
  });
