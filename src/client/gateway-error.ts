// GatewayError: the one error type every GatewayClient implementation throws for a failed call.
//
// Owns: the mapping from a google.rpc.Status (or a transport failure) to a stable `code` string,
// an ErrorKind (which picks the CLI exit code) and the original `rpcCode`/`httpStatus`.
// Invariants:
//   - `code` strings are stable API: callers (fs/fs-error.ts fromGatewayError, cli/handle-error.ts)
//     match on `code`, `rpcCode` or `kind`, never on message text.
//   - No message, hint or detail ever contains the bearer token (messages are built from the
//     server's status text and the request method + path only, then passed through `redact`).
//   - Transport failures (connection refused, reset, timeout) are rpcCode 14 UNAVAILABLE,
//     code AETHER_GATEWAY_UNREACHABLE, kind network.
// Callers: client/http-gateway-client.ts (raises), client/faulty-gateway-client.ts (injects),
// fs/ (maps to errno), cli/ (prints).
import { RpcCode, isRpcStatus } from '../protocol/rpc-status.js';
import { AetherError, type ErrorKind } from '../shared/errors.js';
import { redact } from '../shared/log.js';

/** Stable error codes, one per google.rpc code plus transport-level failures. */
export const GatewayErrorCode = {
  CANCELLED: 'AETHER_GATEWAY_CANCELLED',
  UNKNOWN: 'AETHER_GATEWAY_UNKNOWN',
  INVALID_ARGUMENT: 'AETHER_GATEWAY_INVALID_ARGUMENT',
  DEADLINE_EXCEEDED: 'AETHER_GATEWAY_TIMEOUT',
  NOT_FOUND: 'AETHER_GATEWAY_NOT_FOUND',
  ALREADY_EXISTS: 'AETHER_GATEWAY_ALREADY_EXISTS',
  PERMISSION_DENIED: 'AETHER_GATEWAY_PERMISSION_DENIED',
  RESOURCE_EXHAUSTED: 'AETHER_GATEWAY_RESOURCE_EXHAUSTED',
  FAILED_PRECONDITION: 'AETHER_GATEWAY_FAILED_PRECONDITION',
  /** Optimistic-concurrency failures (ABORTED) are conflicts. */
  ABORTED: 'AETHER_GATEWAY_CONFLICT',
  OUT_OF_RANGE: 'AETHER_GATEWAY_OUT_OF_RANGE',
  UNIMPLEMENTED: 'AETHER_GATEWAY_UNIMPLEMENTED',
  INTERNAL: 'AETHER_GATEWAY_INTERNAL',
  UNAVAILABLE: 'AETHER_GATEWAY_UNAVAILABLE',
  DATA_LOSS: 'AETHER_GATEWAY_DATA_LOSS',
  UNAUTHENTICATED: 'AETHER_GATEWAY_UNAUTHENTICATED',
  /** The gateway could not be reached at all (refused, reset, DNS, timeout before a response). */
  UNREACHABLE: 'AETHER_GATEWAY_UNREACHABLE',
  /** The gateway answered something that is not the documented shape. */
  BAD_RESPONSE: 'AETHER_GATEWAY_BAD_RESPONSE',
  /** The call was made on a client after close(). */
  CLIENT_CLOSED: 'AETHER_GATEWAY_CLIENT_CLOSED',
} as const;
export type GatewayErrorCode = (typeof GatewayErrorCode)[keyof typeof GatewayErrorCode];

const CODE_BY_RPC: Record<number, GatewayErrorCode> = {
  [RpcCode.CANCELLED]: GatewayErrorCode.CANCELLED,
  [RpcCode.UNKNOWN]: GatewayErrorCode.UNKNOWN,
  [RpcCode.INVALID_ARGUMENT]: GatewayErrorCode.INVALID_ARGUMENT,
  [RpcCode.DEADLINE_EXCEEDED]: GatewayErrorCode.DEADLINE_EXCEEDED,
  [RpcCode.NOT_FOUND]: GatewayErrorCode.NOT_FOUND,
  [RpcCode.ALREADY_EXISTS]: GatewayErrorCode.ALREADY_EXISTS,
  [RpcCode.PERMISSION_DENIED]: GatewayErrorCode.PERMISSION_DENIED,
  [RpcCode.RESOURCE_EXHAUSTED]: GatewayErrorCode.RESOURCE_EXHAUSTED,
  [RpcCode.FAILED_PRECONDITION]: GatewayErrorCode.FAILED_PRECONDITION,
  [RpcCode.ABORTED]: GatewayErrorCode.ABORTED,
  [RpcCode.OUT_OF_RANGE]: GatewayErrorCode.OUT_OF_RANGE,
  [RpcCode.UNIMPLEMENTED]: GatewayErrorCode.UNIMPLEMENTED,
  [RpcCode.INTERNAL]: GatewayErrorCode.INTERNAL,
  [RpcCode.UNAVAILABLE]: GatewayErrorCode.UNAVAILABLE,
  [RpcCode.DATA_LOSS]: GatewayErrorCode.DATA_LOSS,
  [RpcCode.UNAUTHENTICATED]: GatewayErrorCode.UNAUTHENTICATED,
};

/** Stable `code` string for a google.rpc code. */
export function gatewayCodeForRpc(rpcCode: number): GatewayErrorCode {
  return CODE_BY_RPC[rpcCode] ?? GatewayErrorCode.UNKNOWN;
}

/**
 * ErrorKind for a google.rpc code: 5→not_found, 6/9/10→conflict, 7/16→auth, 3→usage,
 * 4/14→network, everything else internal.
 */
export function kindForRpc(rpcCode: number): ErrorKind {
  switch (rpcCode) {
    case RpcCode.NOT_FOUND:
      return 'not_found';
    case RpcCode.ALREADY_EXISTS:
    case RpcCode.FAILED_PRECONDITION:
    case RpcCode.ABORTED:
      return 'conflict';
    case RpcCode.PERMISSION_DENIED:
    case RpcCode.UNAUTHENTICATED:
      return 'auth';
    case RpcCode.INVALID_ARGUMENT:
      return 'usage';
    case RpcCode.UNAVAILABLE:
    case RpcCode.DEADLINE_EXCEEDED:
      return 'network';
    default:
      return 'internal';
  }
}

/** google.rpc code a bare HTTP status implies, when the body carried no Status envelope. */
export function rpcCodeForHttpStatus(status: number): number {
  switch (status) {
    case 400:
      return RpcCode.INVALID_ARGUMENT;
    case 401:
      return RpcCode.UNAUTHENTICATED;
    case 403:
      return RpcCode.PERMISSION_DENIED;
    case 404:
      return RpcCode.NOT_FOUND;
    case 409:
      return RpcCode.ABORTED;
    case 416:
      return RpcCode.OUT_OF_RANGE;
    case 429:
      return RpcCode.RESOURCE_EXHAUSTED;
    case 499:
      return RpcCode.CANCELLED;
    case 501:
      return RpcCode.UNIMPLEMENTED;
    case 502:
    case 503:
      return RpcCode.UNAVAILABLE;
    case 504:
      return RpcCode.DEADLINE_EXCEEDED;
    default:
      return status >= 500 ? RpcCode.INTERNAL : RpcCode.UNKNOWN;
  }
}

const DEFAULT_HINTS: Partial<Record<number, string>> = {
  [RpcCode.UNAUTHENTICATED]: 'check the gateway token (`aether gateway token`) or re-run `aether login`',
  [RpcCode.PERMISSION_DENIED]: 'the token does not grant access to this resource',
  [RpcCode.UNAVAILABLE]: 'is the gateway running? try `aether gateway status`',
};

/** Hint attached to transport failures. */
export const UNREACHABLE_HINT = 'is the gateway running? try `aether gateway status`';

export interface GatewayErrorOptions {
  /** google.rpc code (defaults to 2 UNKNOWN). */
  rpcCode: number;
  /** HTTP status of the response; 0 when no response was received. */
  httpStatus?: number;
  /** google.rpc.Status `details`, as sent. */
  details?: unknown[];
  /** Overrides the stable code derived from `rpcCode`. */
  code?: string;
  /** Overrides the kind derived from `rpcCode`. */
  kind?: ErrorKind;
  hint?: string;
  cause?: unknown;
  /** "GET /v1/sessions/…": what was being called (never includes headers or the token). */
  operation?: string;
  /** For transport failures: the system/undici error code (ECONNREFUSED, UND_ERR_SOCKET, …). */
  transportCode?: string;
  /** Server-requested delay before retrying (Retry-After), in milliseconds. */
  retryAfterMs?: number;
}

/** A failed gateway call. Match on `code`, `rpcCode` or `kind`, never on the message. */
export class GatewayError extends AetherError {
  /** google.rpc code (RpcCode). */
  readonly rpcCode: number;
  /** HTTP status of the response, or 0 when none arrived (transport failure, injected fault). */
  readonly httpStatus: number;
  /** google.rpc.Status `details`. */
  readonly details: unknown[];
  /** The call that failed, e.g. "POST /v1/sessions/sess_1/batch". */
  readonly operation?: string;
  /** For transport failures: the system/undici error code (ECONNREFUSED, UND_ERR_SOCKET, …). */
  readonly transportCode?: string;
  /** Server-requested delay before retrying (from Retry-After), in milliseconds. */
  readonly retryAfterMs?: number;

  constructor(message: string, opts: GatewayErrorOptions) {
    const rpcCode = opts.rpcCode;
    super(opts.code ?? gatewayCodeForRpc(rpcCode), redact(message), {
      kind: opts.kind ?? kindForRpc(rpcCode),
      hint: opts.hint ?? DEFAULT_HINTS[rpcCode],
      cause: opts.cause,
    });
    this.rpcCode = rpcCode;
    this.httpStatus = opts.httpStatus ?? 0;
    this.details = opts.details ?? [];
    this.operation = opts.operation;
    this.transportCode = opts.transportCode;
    this.retryAfterMs = opts.retryAfterMs;
  }

  /** True for failures a caller may reasonably retry later (unavailable, timeout, unreachable). */
  get transient(): boolean {
    return this.rpcCode === RpcCode.UNAVAILABLE || this.rpcCode === RpcCode.DEADLINE_EXCEEDED;
  }

  /** Build from an HTTP error response: status + raw body (a google.rpc.Status, or anything). */
  static fromResponse(httpStatus: number, body: Buffer | string, operation?: string, retryAfterMs?: number): GatewayError {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    let parsed: unknown;
    try {
      parsed = text.length ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    const where = operation ? ` (${operation})` : '';
    if (isRpcStatus(parsed)) {
      return new GatewayError(`${parsed.message || `gateway error ${parsed.code}`}${where}`, {
        rpcCode: parsed.code,
        httpStatus,
        details: Array.isArray(parsed.details) ? parsed.details : [],
        operation,
        retryAfterMs,
      });
    }
    // Non-JSON (proxy error page, plain text): keep a short, single-line excerpt.
    const excerpt = text.replace(/\s+/g, ' ').trim().slice(0, 200);
    return new GatewayError(`gateway answered HTTP ${httpStatus}${excerpt ? `: ${excerpt}` : ' with an empty body'}${where}`, {
      rpcCode: rpcCodeForHttpStatus(httpStatus),
      httpStatus,
      operation,
      retryAfterMs,
    });
  }

  /** Build from a google.rpc.Status received inside a stream (`{"error": …}` line). */
  static fromStatus(status: { code: number; message: string; details?: unknown[] }, operation?: string): GatewayError {
    return new GatewayError(status.message || `gateway error ${status.code}`, {
      rpcCode: status.code,
      httpStatus: 200,
      details: status.details ?? [],
      operation,
    });
  }

  /** A transport failure: no (complete) response from the gateway. */
  static unreachable(message: string, opts: { cause?: unknown; operation?: string; transportCode?: string } = {}): GatewayError {
    return new GatewayError(message, {
      rpcCode: RpcCode.UNAVAILABLE,
      code: GatewayErrorCode.UNREACHABLE,
      kind: 'network',
      hint: UNREACHABLE_HINT,
      ...opts,
    });
  }

  /** The caller aborted the call (AbortSignal). */
  static cancelled(operation?: string, cause?: unknown): GatewayError {
    return new GatewayError(`call cancelled${operation ? ` (${operation})` : ''}`, {
      rpcCode: RpcCode.CANCELLED,
      operation,
      cause,
    });
  }

  /** The gateway's answer did not have the documented shape. */
  static badResponse(message: string, operation?: string, cause?: unknown): GatewayError {
    return new GatewayError(`${message}${operation ? ` (${operation})` : ''}`, {
      rpcCode: RpcCode.INTERNAL,
      code: GatewayErrorCode.BAD_RESPONSE,
      operation,
      cause,
    });
  }
}

export function isGatewayError(e: unknown): e is GatewayError {
  return e instanceof GatewayError;
}
