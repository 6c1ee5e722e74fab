// FsError: the filesystem core's only error type, carrying a positive POSIX errno. Gateway
// failures become FsErrors through fromGatewayError(), the one place that maps google.rpc codes to
// errnos. The FUSE adapter negates errno for the binding; nothing else picks errnos.
import { isGatewayError } from '../client/gateway-error.js';
import { AetherError } from '../shared/errors.js';
import { RpcCode } from '../protocol/rpc-status.js';

export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  EFBIG: 27,
  ENOSPC: 28,
  EROFS: 30,
  EMLINK: 31,
  ERANGE: 34,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ENODATA: 61,
  ENOTSUP: 95,
  ETIMEDOUT: 110,
  ESTALE: 116,
  EINTR: 4,
} as const;
export type ErrnoName = keyof typeof Errno;

const NAMES = new Map<number, string>(Object.entries(Errno).map(([k, v]) => [v, k]));

export class FsError extends AetherError {
  readonly errno: number;
  constructor(errno: number, message?: string, opts: { cause?: unknown } = {}) {
    super(`AETHER_FS_${NAMES.get(errno) ?? errno}`, message ?? NAMES.get(errno) ?? `errno ${errno}`, { cause: opts.cause, kind: errno === Errno.ENOENT ? 'not_found' : 'internal' });
    this.errno = errno;
  }
}

export const fsError = (name: ErrnoName, message?: string) => new FsError(Errno[name], message);

/**
 * Map any failure to an FsError. Gateway codes: NOT_FOUND→ENOENT, ALREADY_EXISTS→EEXIST,
 * PERMISSION_DENIED/UNAUTHENTICATED→EACCES, FAILED_PRECONDITION/ABORTED→ESTALE (callers that
 * know better, e.g. rmdir of a non-empty dir, check first), RESOURCE_EXHAUSTED→ENOSPC,
 * INVALID_ARGUMENT→EINVAL, DEADLINE_EXCEEDED→ETIMEDOUT, unavailable/network/other→EIO.
 */
export function fromGatewayError(err: unknown): FsError {
  if (err instanceof FsError) return err;
  if (isGatewayError(err)) {
    const msg = err.message;
    switch (err.rpcCode) {
      case RpcCode.NOT_FOUND:
        return new FsError(Errno.ENOENT, msg, { cause: err });
      case RpcCode.ALREADY_EXISTS:
        return new FsError(Errno.EEXIST, msg, { cause: err });
      case RpcCode.PERMISSION_DENIED:
      case RpcCode.UNAUTHENTICATED:
        return new FsError(Errno.EACCES, msg, { cause: err });
      case RpcCode.FAILED_PRECONDITION:
      case RpcCode.ABORTED:
        return new FsError(Errno.ESTALE, msg, { cause: err });
      case RpcCode.RESOURCE_EXHAUSTED:
        return new FsError(Errno.ENOSPC, msg, { cause: err });
      case RpcCode.INVALID_ARGUMENT:
      case RpcCode.OUT_OF_RANGE:
        return new FsError(Errno.EINVAL, msg, { cause: err });
      case RpcCode.DEADLINE_EXCEEDED:
        return new FsError(Errno.ETIMEDOUT, msg, { cause: err });
      case RpcCode.UNIMPLEMENTED:
        return new FsError(Errno.ENOSYS, msg, { cause: err });
      default:
        return new FsError(Errno.EIO, msg, { cause: err });
    }
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC') return new FsError(Errno.ENOSPC, String(err), { cause: err });
  if (code === 'ENOENT') return new FsError(Errno.ENOENT, String(err), { cause: err });
  return new FsError(Errno.EIO, err instanceof Error ? err.message : String(err), { cause: err });
}
