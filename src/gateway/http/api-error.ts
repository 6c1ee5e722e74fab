// ApiError: the only error type route handlers throw on purpose. The server turns it into the
// google.rpc.Status envelope with the matching HTTP status; anything else becomes code 13.
import { RpcCode, httpStatusForCode, type RpcStatus } from '../../protocol/rpc-status.js';

export class ApiError extends Error {
  readonly rpcCode: number;
  readonly details: unknown[];
  constructor(rpcCode: number, message: string, details: unknown[] = []) {
    super(message);
    this.name = 'ApiError';
    this.rpcCode = rpcCode;
    this.details = details;
  }
  get httpStatus(): number {
    return httpStatusForCode(this.rpcCode);
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
