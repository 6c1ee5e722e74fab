// The gateway's HTTP transport policy: timeouts, the connection cap, and the Status envelope for
// errors Node's HTTP parser raises before any request object exists (431 header overflow, a bad
// request line, 408 header/request timeouts).
//
// Invariants:
//  - Every limit is finite by default: headers must arrive within headersTimeoutMs, a whole request
//    (headers + body) within requestTimeoutMs — the response may take as long as it needs (lock
//    waits and bus streams are long-lived), Node stops the clock once the request is read — and
//    at most maxConnections sockets are open (Node drops the rest at accept).
//  - A parser error is answered with a google.rpc.Status JSON body and `connection: close` when
//    the socket can still be written and no response has started; otherwise the socket is
//    destroyed. A reset by the client is not an error: it is logged at debug.
// Callers: server.ts.
import { MAX_HEADER_BYTES } from '../../shared/path-limits.js';
import type * as http from 'node:http';
import type { Socket } from 'node:net';
import { RpcCode } from '../../protocol/rpc-status.js';
import type { Logger } from '../../shared/log.js';

export interface TransportLimits {
  /** Time to receive the request headers, ms. */
  headersTimeoutMs: number;
  /** Time to receive the whole request (headers and body), ms; must be ≥ headersTimeoutMs. */
  requestTimeoutMs: number;
  /** Longest gap between body chunks, ms. */
  bodyIdleTimeoutMs: number;
  /** Idle keep-alive connections are closed after this, ms. */
  keepAliveTimeoutMs: number;
  /** Open connections at most; further ones are dropped at accept. */
  maxConnections: number;
  /** Largest request header block, bytes (Node answers 431 above it). */
  maxHeaderBytes: number;
}

export const DEFAULT_LIMITS: TransportLimits = {
  headersTimeoutMs: 30_000,
  // A 512 MiB body at ~1 MB/s; a stalled one is cut much sooner by bodyIdleTimeoutMs.
  requestTimeoutMs: 15 * 60_000,
  bodyIdleTimeoutMs: 60_000,
  keepAliveTimeoutMs: 65_000,
  maxConnections: 1024,
  maxHeaderBytes: MAX_HEADER_BYTES, // long session paths travel percent-encoded in query strings
};

export function resolveLimits(given: Partial<TransportLimits> = {}): TransportLimits {
  const l = { ...DEFAULT_LIMITS, ...given };
  l.requestTimeoutMs = Math.max(l.requestTimeoutMs, l.headersTimeoutMs);
  return l;
}

/** Options for http.createServer that depend on the limits. */
export function serverOptions(l: TransportLimits): http.ServerOptions {
  return {
    headersTimeout: l.headersTimeoutMs,
    requestTimeout: l.requestTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    maxHeaderSize: l.maxHeaderBytes,
    // How often Node checks the two timeouts above; small enough that they hold to ~10 %.
    connectionsCheckingInterval: Math.max(50, Math.min(5_000, Math.floor(l.headersTimeoutMs / 10))),
  };
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 413: 'Payload Too Large', 431: 'Request Header Fields Too Large' };

/** Map a Node HTTP parser error to (HTTP status, rpc code, message). */
function describe(err: NodeJS.ErrnoException): [number, number, string] {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return [431, RpcCode.INVALID_ARGUMENT, 'request headers are too large'];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, RpcCode.DEADLINE_EXCEEDED, 'request was not received in time'];
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return [413, RpcCode.INVALID_ARGUMENT, 'chunk extensions are too large'];
    default:
      return [400, RpcCode.INVALID_ARGUMENT, `malformed HTTP request (${String(err.code ?? 'parse error').slice(0, 40)})`];
  }
}

/** Apply the limits and the clientError handler to `server`. */
export function applyTransport(server: http.Server, l: TransportLimits, logger: Logger): void {
  server.maxConnections = l.maxConnections;
  server.keepAliveTimeout = l.keepAliveTimeoutMs;
  server.on('drop', (d?: { remoteAddress?: string }) => logger.warn('connection refused: too many open connections', { max: l.maxConnections, remote: d?.remoteAddress }));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable) {
      logger.debug('client connection reset', { code: err.code });
      socket.destroy();
      return;
    }
    const [status, code, message] = describe(err);
    logger.info('bad HTTP request', { status, code: err.code });
    // A response already under way on this socket cannot be replaced by a raw one.
    if ((socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify({ code, message, details: [] });
    socket.end(
      `HTTP/1.1 ${status} ${REASONS[status] ?? 'Bad Request'}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
}
