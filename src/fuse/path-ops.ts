// PathOps: the binding-agnostic operation table a FUSE binding drives. Every kernel request a
// binding receives maps to exactly one call here, which calls the filesystem core and either
// returns the result or throws (the binding turns the error into an errno via errno.ts). No HTTP,
// caching or policy lives here. Both the fuse-native binding and our own libfuse3 binding use it.
import type { SessionFilesystem, Attr } from '../fs/session-fs.js';
import type { Logger } from '../shared/log.js';
import { FsError, Errno } from '../fs/fs-error.js';
import { QUIET_ERRNOS, toNegErrno } from './errno.js';

export interface StatLike {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  blksize: number;
  blocks: number;
  atime: Date;
  mtime: Date;
  ctime: Date;
}

export function toStat(a: Attr): StatLike {
  return {
    ino: a.ino,
    mode: a.mode,
    uid: a.uid,
    gid: a.gid,
    size: a.size,
    nlink: a.nlink,
    blksize: a.blksize,
    blocks: a.blocks,
    atime: new Date(a.atime),
    mtime: new Date(a.mtime),
    ctime: new Date(a.ctime),
  };
}

export interface OpCounters {
  ops: Record<string, number>;
  errors: Record<string, number>;
}

/**
 * Run one op: call the core, count it, log failures once (quiet errnos at debug level), and
 * return either the value or a negative errno.
 */
export async function bridge<T>(name: string, log: Logger, counters: OpCounters, fields: Record<string, unknown>, fn: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; errno: number }> {
  counters.ops[name] = (counters.ops[name] ?? 0) + 1;
  log.debug(name, fields);
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    const errno = toNegErrno(e);
    counters.errors[name] = (counters.errors[name] ?? 0) + 1;
    const level = QUIET_ERRNOS.has(-errno) ? 'debug' : 'warn';
    log[level](`${name} failed`, { ...fields, errno: -errno, error: e instanceof Error ? e.message : String(e) });
    return { ok: false, errno };
  }
}

/** Ops that exist in the kernel interface but that Aether does not implement. */
export function notSupported(): never {
  throw new FsError(Errno.ENOSYS);
}

export type { SessionFilesystem };
