// How filesystem routes change a session tree. A mutation runs under the session's lock in two
// phases: `prepare` does the asynchronous work (reading old extents, writing new blobs, hashing)
// against a scratch TreeEditor and records each tree edit as a synchronous closure, applied to the
// scratch at once so later steps of the same request see earlier ones; then every recorded edit is
// replayed in a single SessionRepo.apply() transaction. A failure anywhere before the replay leaves
// the session untouched (blobs already written are harmless: unreferenced CAS content), which is
// what makes batch and patchSegments atomic.
//
// Also here: the POSIX-ish helpers every route shares (mode normalization, expectedHash checks,
// parent creation, hard-link aware file replacement). Callers: routes/files.ts.
import { requestScope, type GatewayCore, type SessionRow } from '../core.js';
import { ReplayedRequest } from '../store/request-log.js';
import { TreeEditor, S_IFDIR, S_IFREG, type Extent, type TreeEntry } from '../store/tree-store.js';
import { aborted, alreadyExists, failedPrecondition, invalidArgument, notFound } from '../http/api-error.js';
import { joinPath, parentOf, parseInt64, splitPath } from '../http/validate.js';
import { isContentHash } from '../../shared/digest.js';

/** A tree edit, replayable on any editor that starts from the same root. */
export type Edit = (ed: TreeEditor) => void;

export interface MutationTx {
  /** Scratch editor: the tree as it will be after the edits recorded so far. Read only; change it through do(). */
  readonly ed: TreeEditor;
  /** Server time of this mutation (one value for every entry it touches). */
  readonly now: number;
  /** Apply `edit` to the scratch tree now and record it for the commit. */
  do(edit: Edit): void;
}

export interface MutationResult<T> {
  value: T;
  /** False when nothing was recorded (no commit happened, no event should be logged). */
  changed: boolean;
  root: string;
}

/**
 * Run one mutation of `session` atomically (see the module comment). `mutations` is what the
 * change counts for in analytics (0 for metadata-only changes such as xattrs).
 */
export async function mutate<T>(
  core: GatewayCore,
  session: SessionRow,
  prepare: (tx: MutationTx) => Promise<T> | T,
  opts: { mutations?: number | ((value: T) => number) } = {},
): Promise<MutationResult<T>> {
  return core.sessions.withLock(session.id, async () => {
    // A retried request (same x-aether-request-id) that was applied meanwhile: answer, don't reapply.
    const scope = requestScope.getStore();
    const rid = scope?.requestId && scope.tenantId === session.tenant_id && scope.route ? scope : undefined;
    if (rid) {
      const prior = core.requests.lookup(rid.tenantId!, rid.requestId!, rid.route!);
      if (prior) throw new ReplayedRequest(prior.response);
    }
    const base = core.sessions.reload(session.id).root;
    const scratch = new TreeEditor(core.trees, base);
    const edits: Edit[] = [];
    const tx: MutationTx = {
      ed: scratch,
      now: core.clock.now(),
      do(edit) {
        edit(scratch);
        edits.push(edit);
      },
    };
    const value = await prepare(tx);
    if (edits.length === 0) return { value, changed: false, root: base };
    const mutations = typeof opts.mutations === 'function' ? opts.mutations(value) : (opts.mutations ?? 1);
    // Blob files this tree will reference must be durable before the tree can be.
    await core.content.blobs.flush();
    const { root } = core.sessions.apply(
      session.id,
      (ed, s) => {
        // Every mutator holds the lock, so the root cannot have moved; guard anyway.
        if (s.root !== base) throw aborted(`session ${session.id} changed concurrently; retry`);
        for (const e of edits) e(ed);
        if (rid) {
          core.requests.record(rid.tenantId!, rid.requestId!, rid.route!);
          rid.recorded = true;
        }
      },
      { mutations },
    );
    return { value, changed: true, root };
  });
}

/**
 * A request `mode`: permission bits (mode & 07777). Absent or 0 means "keep the current mode, or
 * the default for a new file" (undefined). A value carrying file-type bits (e.g. 0100000 | perm)
 * is explicit even when its permissions are all zero, so `chmod 000` can be expressed.
 * Accepts a JSON number or an integer string.
 */
export function parsePerm(v: unknown, field: string): number | undefined {
  const n = parseInt64(v, field, 0, { min: 0, max: 0o177777 });
  if (n === 0) return undefined;
  return n & 0o7777;
}

/** Full st_mode of a regular file: the requested permissions, else the current mode, else 0100644. */
export function fileMode(perm: number | undefined, existing?: TreeEntry): number {
  if (perm !== undefined) return S_IFREG | perm;
  if (existing && existing.t === 'f') return existing.m;
  return S_IFREG | 0o644;
}

/** Validate an `expectedHash` field: "" / absent = unconditional, else a `sha256:<hex>`. */
export function parseExpectedHash(v: unknown, field: string): string {
  if (v === undefined || v === null || v === '') return '';
  if (typeof v !== 'string' || !isContentHash(v)) throw invalidArgument(`${field} must be "" or a sha256:<64 hex> content hash`);
  return v;
}

/** The contentHash a path currently has in the manifest sense ("" for dirs and symlinks, absent → undefined). */
export function currentHash(e: TreeEntry | undefined): string | undefined {
  if (!e) return undefined;
  return e.t === 'f' ? (e.h ?? '') : '';
}

/** Optimistic concurrency: ABORTED unless `expected` is "" or equals the path's current contentHash. */
export function checkExpected(path: string, e: TreeEntry | undefined, expected: string): void {
  if (expected === '') return;
  const cur = currentHash(e);
  if (cur !== expected) {
    throw aborted(
      cur === undefined
        ? `expectedHash mismatch for ${path}: the path does not exist`
        : `expectedHash mismatch for ${path}: current content is ${cur || '(not a regular file)'}`,
    );
  }
}

/** Bump the modification time of `path`'s parent directory (an entry was added, removed or renamed). */
export function touchParent(ed: TreeEditor, path: string, now: number): void {
  ed.setMeta(parentOf(path), { mt: now });
}

/**
 * Create every missing directory along `dirPath` (mode 040755), bumping the mtime of each parent
 * that gains an entry; returns the directories created. An ancestor that exists but is not a
 * directory → FAILED_PRECONDITION.
 */
export function makeParents(ed: TreeEditor, dirPath: string, now: number): string[] {
  const created: string[] = [];
  let cur = '/';
  for (const part of splitPath(dirPath)) {
    const next = joinPath(cur, part);
    const e = ed.get(next);
    if (!e) {
      ed.set(next, { t: 'd', m: S_IFDIR | 0o755, mt: now });
      ed.setMeta(cur, { mt: now });
      created.push(next);
    } else if (e.t !== 'd') {
      throw failedPrecondition(`${next} exists and is not a directory`);
    }
    cur = next;
  }
  return created;
}

/**
 * Create a new entry at `path` (parents created); existing path → ALREADY_EXISTS. Returns every
 * path created: the missing parents, then `path`.
 */
export function createEntry(ed: TreeEditor, path: string, entry: TreeEntry, now: number): string[] {
  if (ed.get(path)) throw alreadyExists(`${path} already exists`);
  const created = makeParents(ed, parentOf(path), now);
  ed.set(path, entry);
  touchParent(ed, path, now);
  return [...created, path];
}

/** Every path naming the same file as `path` (itself first), following its hard-link group. */
export function linkedPaths(ed: TreeEditor, path: string): string[] {
  const e = ed.get(path);
  const group = e?.ln ? ed.links[e.ln] : undefined;
  if (!group) return [path];
  return [path, ...group.filter((p) => p !== path)];
}

export interface FileContent {
  s: number;
  h: string;
  x: Extent[];
}

/**
 * Replace (or create) the regular file at `path` with new content and mode. Directories and
 * symlinks at `path` → FAILED_PRECONDITION. Missing parents are created. Every hard link of the
 * file receives the same content, mode and mtime. Returns every path that changed (created
 * parents included).
 */
export function writeFile(ed: TreeEditor, path: string, content: FileContent, mode: number, now: number): string[] {
  const cur = ed.get(path);
  if (cur && cur.t === 'd') throw failedPrecondition(`${path} is a directory`);
  if (cur && cur.t === 'l') throw failedPrecondition(`${path} is a symlink; delete it before writing a file there`);
  if (!cur) return createEntry(ed, path, { t: 'f', m: mode, mt: now, s: content.s, h: content.h, x: content.x }, now);
  const paths = linkedPaths(ed, path);
  for (const p of paths) {
    const e = ed.get(p);
    if (!e || e.t !== 'f') continue;
    ed.set(p, { ...e, m: mode, mt: now, s: content.s, h: content.h, x: content.x });
  }
  return paths;
}

/** Check a path the caller wants to remove as a file: missing → NOT_FOUND, directory → FAILED_PRECONDITION. */
export function requireNonDir(path: string, e: TreeEntry | undefined): TreeEntry {
  if (!e) throw notFound(`${path} does not exist`);
  if (e.t === 'd') throw failedPrecondition(`${path} is a directory`);
  return e;
}

/** Remove one name of a file or symlink (the content survives in other hard links). */
export function removeName(ed: TreeEditor, path: string, now: number): void {
  ed.remove(path);
  touchParent(ed, path, now);
}

/** Join changed paths for an event detail, capped so one event stays small; returns [joined, truncated]. */
export function joinPaths(paths: readonly string[], maxChars = 64 * 1024): [string, boolean] {
  const unique = [...new Set(paths)];
  let out = '';
  for (const p of unique) {
    const next = out ? `${out},${p}` : p;
    if (next.length > maxChars) return [out, true];
    out = next;
  }
  return [out, false];
}
