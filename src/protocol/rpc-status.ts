// google.rpc.Code values and their HTTP mapping, shared by the gateway (which answers with them)
// and the client (which interprets them). Leaf module: imports nothing internal.

export const RpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type RpcCode = (typeof RpcCode)[keyof typeof RpcCode];

const HTTP: Record<number, number> = {
  0: 200, 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429,
  9: 400, 10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401,
};

/** HTTP status for a google.rpc code (the grpc-gateway mapping). */
export function httpStatusForCode(code: number): number {
  return HTTP[code] ?? 500;
}

/** The google.rpc.Status error envelope every failing route returns. */
export interface RpcStatus {
  code: number;
  message: string;
  details: unknown[];
}

export function isRpcStatus(v: unknown): v is RpcStatus {
  return typeof v === 'object' && v !== null && typeof (v as RpcStatus).code === 'number' && typeof (v as RpcStatus).message === 'string';
}
