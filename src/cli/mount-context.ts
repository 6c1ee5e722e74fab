// Mount context hooks: how control-plane commands (commit, checkpoint, annotate, …) learn which
// session a working directory belongs to, and how they flush a live mount before acting.
//
// The mount registry (<home>/state/mounts/*.json, written by live mount daemons) says which mount
// contains `cwd`; its daemon's control socket flushes it. Every caller handles `undefined`
// ("not inside a mount").
//
// Invariants: never throws for "not in a mount"; throws AetherError only when a mount was found
// but could not be synced (then the command must not proceed, e.g. commit).
// Callers: cli/context.ts (session resolution), cli/commands/commit.ts (sync before commit),
// cli/commands/review.ts (path translation).
import * as path from 'node:path';
import { findMountForPath } from './daemon/mount-registry.js';
import { controlCall } from '../control/control-client.js';

/** Where the CLI runs, relative to a mounted session. */
export interface MountContext {
  /** The session mounted there. */
  sessionId: string;
  /** Absolute local directory of the mount. */
  mountPoint: string;
  /** The cwd as a session path (`/` at the mount root, `/src` in its src/ directory). */
  sessionPath: string;
}

export interface MountLookupOptions {
  /** Aether home (mount registry under `<home>/state`). */
  home: string;
  env: Record<string, string | undefined>;
  signal?: AbortSignal;
}

/** What a sync achieved (shape for the mount engineer to extend). */
export interface MountSyncResult {
  sessionId: string;
  /** Writes uploaded by this sync. */
  uploaded: number;
  /** Conflict copies created while syncing (reported, never fatal here). */
  conflicts: string[];
}

/** The mounted session containing `cwd`, or undefined when `cwd` is not inside an Aether mount. */
export async function resolveSessionFromCwd(cwd: string, opts: MountLookupOptions): Promise<MountContext | undefined> {
  const rec = await findMountForPath(opts.home, cwd);
  if (!rec) return undefined;
  const rel = path.relative(rec.mountpoint, path.resolve(cwd));
  return { sessionId: rec.sessionId, mountPoint: rec.mountpoint, sessionPath: rel ? '/' + rel.split(path.sep).join('/') : '/' };
}

/**
 * Wait until every write made so far in the mount containing `cwd` is on the gateway (what
 * `aether sync` does). Undefined when `cwd` is not inside a mount; throws an AetherError (kind
 * network or conflict) when the mount cannot be synced.
 */
export async function syncMountForCwd(cwd: string, opts: MountLookupOptions): Promise<MountSyncResult | undefined> {
  const rec = await findMountForPath(opts.home, cwd);
  if (!rec) return undefined;
  const before = await controlCall<{ pendingUploads: number; conflicts: Array<{ conflictPath: string }> }>(rec.socketPath, 'status', {}, 10_000);
  await controlCall(rec.socketPath, 'sync');
  const after = await controlCall<{ conflicts: Array<{ conflictPath: string }> }>(rec.socketPath, 'status', {}, 10_000);
  return {
    sessionId: rec.sessionId,
    uploaded: before.pendingUploads,
    conflicts: after.conflicts.slice(before.conflicts.length).map((c) => c.conflictPath),
  };
}

/**
 * Translate a PATH argument into a session path.
 *   - Inside a mount: relative paths resolve against the cwd's session path; absolute local
 *     paths under the mount point are made mount-relative; other absolute paths are taken as
 *     session paths.
 *   - Outside a mount: the argument is a session path (`src/a.ts` and `/src/a.ts` are the same).
 * The result is normalized (`/` separated, no `.`/`..`, no trailing `/`; the root is `/`).
 */
export function toSessionPath(arg: string, cwd: string, mount: MountContext | undefined): string {
  let p: string;
  if (mount) {
    if (path.isAbsolute(arg)) {
      const rel = path.relative(mount.mountPoint, path.resolve(cwd, arg));
      p = rel.startsWith('..') || path.isAbsolute(rel) ? arg : '/' + rel;
    } else {
      p = path.posix.join(mount.sessionPath, arg.split(path.sep).join('/'));
    }
  } else {
    p = arg.startsWith('/') ? arg : '/' + arg;
  }
  const norm = path.posix.normalize(p).replace(/\/+$/, '');
  return norm === '' || norm === '.' ? '/' : norm.startsWith('/') ? norm : '/' + norm;
}
