// ApiError: the only error type route handlers throw on purpose. The server turns it into the
// google.rpc.Status envelope with the matching HTTP status; anything else becomes code 13.
// Invariants: a Status message is at most MAX_MESSAGE characters (longer ones are cut with a note),
// and inputs echoed into messages go through quote(), which keeps at most MAX_ECHO of them, so a
// 100 KB path is never sent back.
// Callers: every route family, server.ts, http/request-io.ts.
import { RpcCode, httpStatusForCode, type RpcStatus } from '../../protocol/rpc-status.js';

/** Longest input excerpt echoed in an error message. */
export const MAX_ECHO = 200;
/** Longest Status message sent. */
export const MAX_MESSAGE = 1024;

/** `s` cut to `max` characters (never splitting a surrogate pair), with a note of what was cut. */
export function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = max;
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${s.slice(0, end)}… (${s.length - end} more characters)`;
}

/** An input value quoted for an error message: JSON-quoted, at most MAX_ECHO characters of it. */
export function quote(v: unknown): string {
  const s = typeof v === 'string' ? v : String(v);
  if (s.length <= MAX_ECHO) return JSON.stringify(s);
  return `${JSON.stringify(clip(s, MAX_ECHO).slice(0, MAX_ECHO))}… (${s.length} characters)`;
}

export class ApiError extends Error {
  readonly rpcCode: number;
  readonly details: unknown[];
  private readonly statusOverride?: number;
  /** `httpStatus` overrides the code's usual HTTP status (e.g. 408/431 for transport errors). */
  constructor(rpcCode: number, message: string, details: unknown[] = [], opts: { httpStatus?: number } = {}) {
    super(clip(message, MAX_MESSAGE));
    this.name = 'ApiError';
    this.rpcCode = rpcCode;
    this.details = details;
    this.statusOverride = opts.httpStatus;
  }
  get httpStatus(): number {
    return this.statusOverride ?? httpStatusForCode(this.rpcCode);
  }
  toStatus(): RpcStatus {
    return { code: this.rpcCode, message: this.message, details: this.details };
  }
}

export const invalidArgument = (msg: string) => new ApiError(RpcCode.INVALID_ARGUMENT, msg);
export const notFound = (msg: string) => new ApiError(RpcCode.NOT_FOUND, msg);
export const alreadyExists = (msg: string) => new ApiError(RpcCode.ALREADY_EXISTS, msg);
export const permissionDenied = (msg: string) => new ApiError(RpcCode.PERMISSION_DENIED, msg);
export const failedPrecondition = (msg: string) => new ApiError(RpcCode.FAILED_PRECONDITION, msg);
export const aborted = (msg: string) => new ApiError(RpcCode.ABORTED, msg);
export const unauthenticated = (msg: string) => new ApiError(RpcCode.UNAUTHENTICATED, msg);
export const outOfRange = (msg: string) => new ApiError(RpcCode.OUT_OF_RANGE, msg);
export const resourceExhausted = (msg: string) => new ApiError(RpcCode.RESOURCE_EXHAUSTED, msg);
