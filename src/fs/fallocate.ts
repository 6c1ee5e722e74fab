// fallocate(2) for the filesystem core, written against three small file-handle primitives so it
// does not depend on how the core stores bytes (SessionFilesystem.fallocate() wires them).
//
// Modes (Linux values), as ext4 answers them:
//   - 0: allocate [offset, offset+len): the file grows to offset+len if it is shorter (the new
//     bytes read as zeros). There is no space to reserve: the staging area and the gateway store
//     sparse data, so "allocated" means "the size says so".
//   - KEEP_SIZE: the same without changing the size (nothing to do beyond validation).
//   - PUNCH_HOLE | KEEP_SIZE: the bytes of [offset, offset+len) inside the file read as zeros
//     afterwards; the size never changes. (PUNCH_HOLE without KEEP_SIZE is refused by the kernel
//     before it reaches us; we refuse it too, EOPNOTSUPP.)
//   - ZERO_RANGE [| KEEP_SIZE]: the range reads as zeros; without KEEP_SIZE the file grows to
//     offset+len if it is shorter.
//   - anything else (COLLAPSE_RANGE, INSERT_RANGE, UNSHARE_RANGE, unknown bits): EOPNOTSUPP, so
//     callers (posix_fallocate's glibc fallback, fsx) fall back or turn the mode off.
// Zeroing writes zeros only over bytes that exist (never past the current size): growing is a size
// change, which reads as zeros anyway. The mtime/ctime change as for a write (Linux does the same
// for punch/zero; mode 0 growing changes them through the size change).
// Errors: offset < 0 or len <= 0 → EINVAL; offset+len past 2^53 → EFBIG; not a regular file →
// ENODEV (Linux for fallocate on a non-regular, non-directory file; the kernel answers EISDIR and
// ESPIPE itself). The descriptor's write access (EBADF) is checked by the kernel.
// Callers: SessionFilesystem.fallocate() (the posix hook), unit tests.
import { Errno, FsError } from './fs-error.js';

export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const FALLOC_FL_COLLAPSE_RANGE = 0x08;
export const FALLOC_FL_ZERO_RANGE = 0x10;
export const FALLOC_FL_INSERT_RANGE = 0x20;
export const FALLOC_FL_UNSHARE_RANGE = 0x40;

/** What fallocate needs from an open file. */
export interface FallocateTarget {
  /** Current size and whether it is a regular file. */
  stat(fh: number): Promise<{ size: number; isFile: boolean }>;
  /** Set the size (growing reads as zeros). */
  setSize(fh: number, size: number): Promise<void>;
  /** Write bytes at a position, ignoring O_APPEND. */
  writeAt(fh: number, data: Buffer, pos: number): Promise<void>;
}

/** Largest zero buffer written at once. */
const ZERO_CHUNK = 1 << 20;

export async function fallocate(t: FallocateTarget, fh: number, mode: number, offset: number, length: number): Promise<void> {
  const keep = (mode & FALLOC_FL_KEEP_SIZE) !== 0;
  const punch = (mode & FALLOC_FL_PUNCH_HOLE) !== 0;
  const zero = (mode & FALLOC_FL_ZERO_RANGE) !== 0;
  if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) throw new FsError(Errno.ENOTSUP, `fallocate mode 0x${mode.toString(16)} is not supported`);
  if (punch && (zero || !keep)) throw new FsError(Errno.ENOTSUP, 'PUNCH_HOLE needs KEEP_SIZE and excludes ZERO_RANGE');
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length <= 0) {
    if (offset < 0 || length <= 0) throw new FsError(Errno.EINVAL, 'fallocate: offset < 0 or length <= 0');
    throw new FsError(Errno.EFBIG, 'fallocate: range too large');
  }
  const end = offset + length;
  if (!Number.isSafeInteger(end)) throw new FsError(Errno.EFBIG, 'fallocate: range too large');
  const st = await t.stat(fh);
  if (!st.isFile) throw new FsError(Errno.ENODEV, 'fallocate needs a regular file');
  if (punch || zero) {
    const stop = Math.min(end, st.size);
    if (stop > offset) {
      const buf = Buffer.alloc(Math.min(ZERO_CHUNK, stop - offset));
      for (let pos = offset; pos < stop; pos += buf.length) {
        await t.writeAt(fh, pos + buf.length <= stop ? buf : buf.subarray(0, stop - pos), pos);
      }
    }
  }
  if (!keep && end > st.size) await t.setSize(fh, end);
}
