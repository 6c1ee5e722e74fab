// The one errno table of the FUSE layer: turns any thrown value into the negative errno a binding
// returns to the kernel. FsErrors carry their errno; anything else is a bug and becomes EIO.
import { FsError, Errno, fromGatewayError } from '../fs/fs-error.js';

/** Negative errno for the kernel. */
export function toNegErrno(err: unknown): number {
  const e = err instanceof FsError ? err : fromGatewayError(err);
  return -(e.errno || Errno.EIO);
}

/** Errnos that are normal answers, not failures worth a log line. */
export const QUIET_ERRNOS = new Set<number>([Errno.ENOENT, Errno.ENODATA, Errno.EEXIST, Errno.ENOTEMPTY, Errno.ENOTDIR, Errno.EISDIR, Errno.EAGAIN, Errno.ENOSYS, Errno.ENOTSUP]);
