// Route family: filesystem mutations and per-path reads of a session tree — directories, file
// deletion, rename, atomic batches, segment patches, symlinks, hard links, CAS extents and xattrs
// (seed 001 sections 12–21). Every mutation goes through fs/mutation.ts (session lock, prepare,
// one apply transaction) and records a v1.FileSystemService.* event naming every changed path,
// which is how a mount learns what to invalidate.
//
// Semantics decided here: every creating route (dirs, batch write, segment writes, rename,
// symlinks, link) creates missing parent directories (a superset of the contract's "parent must
// exist"); paths are never resolved through symlinks, so writing file content onto a symlink or a
// directory is FAILED_PRECONDITION; a hard-link group is one inode and shares content, mode, mtime
// and xattrs; parent directories' mtimes move when entries are added, removed or renamed.
import type { Router, RequestContext } from '../http/router.js';
import type { GatewayCore, SessionRow } from '../core.js';
import { S_IFDIR, S_IFLNK, type TreeEntry } from '../store/tree-store.js';
import { alreadyExists, failedPrecondition, invalidArgument, notFound, resourceExhausted } from '../http/api-error.js';
import {
  decodePageToken,
  encodePageToken,
  normalizePath,
  parentOf,
  parseArray,
  parseBytes,
  parseEnum,
  parseObject,
  parsePageSize,
  requireString,
} from '../http/validate.js';
import { newId } from '../../shared/digest.js';
import { SegmentConflictPolicyValues, type SegmentConflictPolicy } from '../../protocol/types.js';
import {
  checkExpected,
  createEntry,
  fileMode,
  joinPaths,
  linkedPaths,
  makeParents,
  mutate,
  parseExpectedHash,
  parsePerm,
  removeName,
  requireNonDir,
  touchParent,
  writeFile,
  type MutationTx,
} from '../fs/mutation.js';
import { checkBorrowed, parseSegmentMutation, receivedBytes, splicedPieces, storePieces, type SegmentMutationSpec } from '../fs/segments.js';
import { renderExtents } from '../fs/render.js';
import { walkSorted } from '../fs/walk.js';

const EV = 'v1.FileSystemService.';
/** Largest xattr value (Linux's XATTR_SIZE_MAX). */
const MAX_XATTR_VALUE = 64 * 1024;
/** Largest total of one node's xattrs (names + values): they live inline in tree bodies. */
const MAX_XATTR_TOTAL = 256 * 1024;
/** Largest symlink target (PATH_MAX). */
const MAX_SYMLINK_TARGET = 4096;
/** Most operations one batch (or mutations one patchSegments) may carry. */
const MAX_OPS = 10_000;

type BatchOp =
  | { kind: 'write'; path: string; buf: Buffer; expectedHash: string; perm: number | undefined }
  | { kind: 'delete'; path: string; expectedHash: string }
  | { kind: 'segmentWrite'; spec: SegmentMutationSpec };

/** A required path field (body or query), root excluded unless allowed. */
function pathField(v: unknown, field: string, allowRoot = false): string {
  return normalizePath(v ?? undefined, field, { allowRoot });
}

/** Xattr names: non-empty, ≤ 255 bytes, no NUL, namespaced as `<namespace>.<name>` (e.g. `user.owner`). */
function xattrName(v: unknown, field = 'name'): string {
  const name = requireString(v, field);
  if (Buffer.byteLength(name) > 255) throw invalidArgument(`${field} is longer than 255 bytes`);
  if (!/^[^.\0]+\.[^\0]+$/.test(name)) throw invalidArgument(`${field} must be namespaced like "user.<name>": ${JSON.stringify(name)}`);
  return name;
}

/** Refuse to write file content over a directory or a symlink (paths never follow symlinks). */
function requireWritable(path: string, e: TreeEntry | undefined): void {
  if (e?.t === 'd') throw failedPrecondition(`${path} is a directory`);
  if (e?.t === 'l') throw failedPrecondition(`${path} is a symlink; delete it before writing a file there`);
}

export function registerFileRoutes(router: Router, core: GatewayCore): void {
  const session = (ctx: RequestContext): SessionRow => core.sessions.get(ctx.principal, ctx.params.sessionId!);
  const record = (s: SessionRow, method: string, details: Record<string, string>) => core.events.record(s.id, EV + method, details);

  /** Apply one segment mutation inside a prepare phase; returns the changed paths. */
  async function applySegmentMutation(tx: MutationTx, tenantId: string, spec: SegmentMutationSpec, field: string): Promise<string[]> {
    const cur = tx.ed.get(spec.path);
    await checkBorrowed(core, tenantId, spec, field);
    const content = await storePieces(core, tenantId, splicedPieces(cur?.x ?? [], spec));
    const mode = fileMode(spec.perm, cur);
    let changed: string[] = [];
    tx.do((ed) => {
      changed = writeFile(ed, spec.path, content, mode, tx.now);
    });
    return changed;
  }

  // ---- directories -------------------------------------------------------------------------------
  router.post('/v1/sessions/{sessionId}/dirs', async (ctx) => {
    const s = session(ctx);
    const path = pathField(ctx.body.path, 'path', true);
    const perm = parsePerm(ctx.body.mode, 'mode') || 0o755;
    const r = await mutate(core, s, (tx) => {
      let created: string[] = [];
      tx.do((ed) => {
        created = createEntry(ed, path, { t: 'd', m: S_IFDIR | perm, mt: tx.now }, tx.now);
      });
      return created.slice(0, -1);
    });
    record(s, 'CreateDirectory', withParents({ path }, r.value));
    return {};
  });

  router.delete('/v1/sessions/{sessionId}/dirs', async (ctx) => {
    const s = session(ctx);
    const path = pathField(ctx.query.get('path'), 'path');
    await mutate(core, s, (tx) => {
      const e = tx.ed.get(path);
      if (!e) throw notFound(`${path} does not exist`);
      if (e.t !== 'd') throw failedPrecondition(`${path} is not a directory`);
      if (!tx.ed.isEmptyDir(path)) throw failedPrecondition(`directory ${path} is not empty`);
      tx.do((ed) => removeName(ed, path, tx.now));
    });
    record(s, 'RemoveDirectory', { path });
    return {};
  });

  // ---- files -------------------------------------------------------------------------------------
  async function deleteName(ctx: RequestContext, pathV: unknown, expectedV: unknown, method: 'DeleteFile' | 'Unlink'): Promise<object> {
    const s = session(ctx);
    const path = pathField(pathV, 'path');
    const expected = parseExpectedHash(expectedV, 'expectedHash');
    const r = await mutate(core, s, (tx) => {
      const e = requireNonDir(path, tx.ed.get(path));
      checkExpected(path, e, expected);
      const names = linkedPaths(tx.ed, path);
      tx.do((ed) => removeName(ed, path, tx.now));
      return names.slice(1);
    });
    // Other names of the same file lost a link (nlink changed): name them for mounts.
    record(s, method, r.value.length ? { path, linkedPaths: joinPaths(r.value)[0] } : { path });
    return {};
  }

  router.delete('/v1/sessions/{sessionId}/files', (ctx) => deleteName(ctx, ctx.query.get('path'), ctx.query.get('expectedHash'), 'DeleteFile'));
  router.post('/v1/sessions/{sessionId}:unlink', (ctx) => deleteName(ctx, ctx.body.path, ctx.body.expectedHash, 'Unlink'));

  // ---- rename ------------------------------------------------------------------------------------
  const rename = async (ctx: RequestContext) => {
    const s = session(ctx);
    const src = pathField(ctx.body.sourcePath, 'sourcePath');
    const dst = pathField(ctx.body.destinationPath, 'destinationPath');
    if (dst.startsWith(src + '/')) throw invalidArgument(`cannot move ${src} into its own subtree (${dst})`);
    const r = await mutate(core, s, (tx) => {
      const se = tx.ed.get(src);
      if (!se) throw notFound(`${src} does not exist`);
      if (src === dst) return;
      const de = tx.ed.get(dst);
      if (de) {
        if (se.t === 'd') {
          if (de.t !== 'd') throw failedPrecondition(`cannot replace non-directory ${dst} with directory ${src}`);
          if (!tx.ed.isEmptyDir(dst)) throw failedPrecondition(`cannot replace non-empty directory ${dst}`);
        } else if (de.t === 'd') {
          throw failedPrecondition(`cannot replace directory ${dst} with non-directory ${src}`);
        } else if (se.ln && se.ln === de.ln) {
          return; // rename(2): two links to the same file — nothing to do
        }
      }
      let created: string[] = [];
      tx.do((ed) => {
        created = makeParents(ed, parentOf(dst), tx.now);
        ed.move(src, dst);
        touchParent(ed, src, tx.now);
        touchParent(ed, dst, tx.now);
      });
      return created;
    });
    if (r.changed) record(s, 'Rename', withParents({ sourcePath: src, destinationPath: dst }, r.value ?? []));
    return {};
  };
  router.post('/v1/sessions/{sessionId}:rename', rename);
  router.post('/v1/sessions/{sessionId}/rename', rename);

  // ---- batch -------------------------------------------------------------------------------------
  router.post('/v1/sessions/{sessionId}/batch', async (ctx) => {
    const s = session(ctx);
    const raw = parseArray(ctx.body.operations, 'operations');
    if (raw.length > MAX_OPS) throw invalidArgument(`operations has more than ${MAX_OPS} entries`);
    const ops: BatchOp[] = raw.map((v, i): BatchOp => {
      const f = `operations[${i}]`;
      const o = parseObject(v, f);
      const kinds = (['write', 'delete', 'segmentWrite'] as const).filter((k) => o[k] !== undefined && o[k] !== null);
      if (kinds.length !== 1) throw invalidArgument(`${f} must set exactly one of write, delete or segmentWrite`);
      const kind = kinds[0]!;
      if (kind === 'segmentWrite') return { kind, spec: parseSegmentMutation(o.segmentWrite, `${f}.segmentWrite`) };
      const b = parseObject(o[kind], `${f}.${kind}`);
      const path = pathField(b.path, `${f}.${kind}.path`);
      const expectedHash = parseExpectedHash(b.expectedHash, `${f}.${kind}.expectedHash`);
      if (kind === 'delete') return { kind, path, expectedHash };
      return { kind, path, expectedHash, buf: parseBytes(b.content, `${f}.write.content`), perm: parsePerm(b.mode, `${f}.write.mode`) };
    });
    for (const op of ops) core.counters.received(s.tenant_id, op.kind === 'write' ? op.buf.length : op.kind === 'segmentWrite' ? receivedBytes(op.spec) : 0);
    if (ops.length === 0) return {};

    const r = await mutate(
      core,
      s,
      async (tx) => {
        const changed: string[] = [];
        for (const [i, op] of ops.entries()) {
          const f = `operations[${i}]`;
          if (op.kind === 'delete') {
            const e = requireNonDir(op.path, tx.ed.get(op.path));
            checkExpected(op.path, e, op.expectedHash);
            const names = linkedPaths(tx.ed, op.path);
            tx.do((ed) => removeName(ed, op.path, tx.now));
            // The other links' nlink changed too: name them so a mount refreshes them.
            changed.push(...names);
            continue;
          }
          const path = op.kind === 'write' ? op.path : op.spec.path;
          const cur = tx.ed.get(path);
          requireWritable(path, cur);
          checkExpected(path, cur, op.kind === 'write' ? op.expectedHash : op.spec.expectedHash);
          if (op.kind === 'segmentWrite') {
            changed.push(...(await applySegmentMutation(tx, ctx.principal.tenantId, op.spec, `${f}.segmentWrite`)));
            continue;
          }
          const { x, h } = await core.content.putFile(ctx.principal.tenantId, op.buf);
          const content = { s: op.buf.length, h, x };
          const mode = fileMode(op.perm, cur);
          let paths: string[] = [];
          tx.do((ed) => {
            paths = writeFile(ed, op.path, content, mode, tx.now);
          });
          changed.push(...paths);
        }
        return changed;
      },
      { mutations: ops.length },
    );
    const [paths, truncated] = joinPaths(r.value);
    const details: Record<string, string> = { paths, operationCount: String(ops.length) };
    if (truncated) details.pathsTruncated = 'true';
    record(s, 'Batch', details);
    return {};
  });

  // ---- patchSegments -----------------------------------------------------------------------------
  router.post('/v1/sessions/{sessionId}/patchSegments', async (ctx) => {
    const s = session(ctx);
    const raw = parseArray(ctx.body.mutations, 'mutations');
    if (raw.length > MAX_OPS) throw invalidArgument(`mutations has more than ${MAX_OPS} entries`);
    const specs = raw.map((v, i) => parseSegmentMutation(v, `mutations[${i}]`));
    const policy: SegmentConflictPolicy = parseEnum(ctx.body.conflictPolicy, 'conflictPolicy', SegmentConflictPolicyValues, 'SEGMENT_CONFLICT_POLICY_ABORT_ON_CONFLICT');
    for (const spec of specs) core.counters.received(s.tenant_id, receivedBytes(spec));

    const r = await mutate(
      core,
      s,
      async (tx) => {
        const changed: string[] = [];
        const skipped: string[] = [];
        let applied = 0;
        for (const [i, spec] of specs.entries()) {
          const cur = tx.ed.get(spec.path);
          requireWritable(spec.path, cur);
          if (policy === 'SEGMENT_CONFLICT_POLICY_SKIP_CONFLICTING') {
            try {
              checkExpected(spec.path, cur, spec.expectedHash);
            } catch {
              skipped.push(spec.path);
              continue;
            }
          } else {
            checkExpected(spec.path, cur, spec.expectedHash);
          }
          changed.push(...(await applySegmentMutation(tx, ctx.principal.tenantId, spec, `mutations[${i}]`)));
          applied++;
        }
        return { changed, skipped, applied };
      },
      { mutations: (v) => v.applied },
    );
    if (r.changed) {
      const [paths, truncated] = joinPaths(r.value.changed);
      const [skippedPaths] = joinPaths(r.value.skipped);
      const details: Record<string, string> = { paths, skippedPaths };
      if (truncated) details.pathsTruncated = 'true';
      record(s, 'PatchSegments', details);
    }
    return { skippedPaths: r.value.skipped };
  });

  // ---- symlinks ----------------------------------------------------------------------------------
  router.post('/v1/sessions/{sessionId}/symlinks', async (ctx) => {
    const s = session(ctx);
    const linkPath = pathField(ctx.body.linkPath, 'linkPath');
    const target = requireString(ctx.body.target, 'target');
    if (Buffer.byteLength(target) > MAX_SYMLINK_TARGET) throw invalidArgument(`target is longer than ${MAX_SYMLINK_TARGET} bytes`);
    if (target.includes('\0')) throw invalidArgument('target must not contain NUL bytes');
    const r = await mutate(core, s, (tx) => {
      let created: string[] = [];
      tx.do((ed) => {
        created = createEntry(ed, linkPath, { t: 'l', m: S_IFLNK | 0o777, mt: tx.now, tg: target }, tx.now);
      });
      return created.slice(0, -1);
    });
    record(s, 'CreateSymlink', withParents({ linkPath, target }, r.value));
    return {};
  });

  router.get('/v1/sessions/{sessionId}/symlinks', (ctx) => {
    const s = session(ctx);
    const rawPrefix = ctx.query.get('pathPrefix');
    const prefix = rawPrefix === null || rawPrefix === '' ? '/' : normalizePath(rawPrefix, 'pathPrefix');
    const pageSize = parsePageSize(ctx.query.get('pageSize'), 1000, 10_000);
    const token = decodePageToken<{ p: string }>(ctx.query.get('pageToken'), (t) => typeof t.p === 'string' && validPath(t.p));
    const symlinks: Array<{ path: string; target: string }> = [];
    let more = false;
    for (const { path, entry } of walkSorted(core.trees, s.root, prefix, { after: token?.p })) {
      if (entry.t !== 'l') continue;
      if (symlinks.length === pageSize) {
        more = true;
        break;
      }
      symlinks.push({ path, target: entry.tg ?? '' });
    }
    return { symlinks, nextPageToken: more ? encodePageToken({ p: symlinks[symlinks.length - 1]!.path }) : '' };
  });

  router.get('/v1/sessions/{sessionId}/readSymlink', (ctx) => {
    const s = session(ctx);
    const path = pathField(ctx.query.get('path'), 'path');
    const e = core.trees.lookup(s.root, path);
    if (!e) throw notFound(`${path} does not exist`);
    if (e.t !== 'l') throw invalidArgument(`${path} is not a symlink`);
    return { target: e.tg ?? '' };
  });

  // ---- hard links --------------------------------------------------------------------------------
  router.post('/v1/sessions/{sessionId}:link', async (ctx) => {
    const s = session(ctx);
    const src = pathField(ctx.body.srcPath, 'srcPath');
    const dst = pathField(ctx.body.dstPath, 'dstPath');
    const freshId = newId('ln');
    const r = await mutate(core, s, (tx) => {
      const se = tx.ed.get(src);
      if (!se) throw notFound(`${src} does not exist`);
      if (se.t !== 'f') throw failedPrecondition(`${src} is not a regular file (only regular files can be hard-linked)`);
      if (tx.ed.get(dst)) throw alreadyExists(`${dst} already exists`);
      let created: string[] = [];
      tx.do((ed) => {
        const cur = ed.get(src)!;
        const id = cur.ln ?? freshId;
        if (!cur.ln) {
          ed.links[id] = [src];
          ed.set(src, { ...cur, ln: id });
        }
        created = createEntry(ed, dst, { ...cur, ln: id }, tx.now);
        ed.links[id]!.push(dst);
      });
      return created.slice(0, -1);
    });
    record(s, 'Link', withParents({ srcPath: src, dstPath: dst }, r.value));
    return {};
  });

  // ---- CAS extents -------------------------------------------------------------------------------
  router.post('/v1/sessions/{sessionId}:getCasExtents', (ctx) => {
    const s = session(ctx);
    const path = pathField(ctx.body.path, 'path');
    const e = core.trees.lookup(s.root, path);
    if (!e) throw notFound(`${path} does not exist`);
    if (e.t !== 'f') throw failedPrecondition(`${path} is not a regular file`);
    core.content.lease(e.x ?? []); // reader lease (store/content.ts)
    return { extents: renderExtents(e.x ?? []) };
  });

  // ---- xattrs ------------------------------------------------------------------------------------
  const lookupNode = (s: SessionRow, path: string): TreeEntry => {
    const e = core.trees.lookup(s.root, path);
    if (!e) throw notFound(`${path} does not exist`);
    return e;
  };

  /** Replace the xattrs of `path` (and of every hard link of it: they are one inode). */
  async function editXattrs(s: SessionRow, path: string, edit: (xa: Record<string, string>) => void): Promise<string[]> {
    const r = await mutate(
      core,
      s,
      (tx) => {
        const e = tx.ed.get(path);
        if (!e) throw notFound(`${path} does not exist`);
        const xa = { ...(e.xa ?? {}) };
        edit(xa);
        let total = 0;
        for (const [k, v] of Object.entries(xa)) total += Buffer.byteLength(k) + Math.ceil((v.length * 3) / 4);
        if (total > MAX_XATTR_TOTAL) throw resourceExhausted(`extended attributes of ${path} would exceed ${MAX_XATTR_TOTAL} bytes`);
        const paths = linkedPaths(tx.ed, path);
        tx.do((ed) => {
          for (const p of paths) ed.setMeta(p, { xa: Object.keys(xa).length ? xa : undefined, mt: tx.now });
        });
        return paths.slice(1);
      },
      { mutations: 0 },
    );
    return r.value;
  }
  /** Event details of an xattr change, naming the file's other hard links when it has some. */
  const xattrDetails = (path: string, name: string, others: string[]): Record<string, string> =>
    others.length ? { path, name, linkedPaths: joinPaths(others)[0] } : { path, name };

  router.post('/v1/sessions/{sessionId}:setXattr', async (ctx) => {
    const s = session(ctx);
    const path = pathField(ctx.body.path, 'path', true);
    const name = xattrName(ctx.body.name);
    const value = parseBytes(ctx.body.value, 'value');
    if (value.length > MAX_XATTR_VALUE) throw invalidArgument(`value is larger than ${MAX_XATTR_VALUE} bytes`);
    const others = await editXattrs(s, path, (xa) => {
      xa[name] = value.toString('base64');
    });
    record(s, 'SetXattr', xattrDetails(path, name, others));
    return {};
  });

  router.post('/v1/sessions/{sessionId}:removeXattr', async (ctx) => {
    const s = session(ctx);
    const path = pathField(ctx.body.path, 'path', true);
    const name = xattrName(ctx.body.name);
    const others = await editXattrs(s, path, (xa) => {
      if (!(name in xa)) throw notFound(`${path} has no extended attribute ${name}`);
      delete xa[name];
    });
    record(s, 'RemoveXattr', xattrDetails(path, name, others));
    return {};
  });

  router.post('/v1/sessions/{sessionId}:listXattrs', (ctx) => {
    const s = session(ctx);
    const path = pathField(ctx.body.path, 'path', true);
    return { names: Object.keys(lookupNode(s, path).xa ?? {}) };
  });

  router.post('/v1/sessions/{sessionId}:getXattr', (ctx) => {
    const s = session(ctx);
    const path = pathField(ctx.body.path, 'path', true);
    const name = xattrName(ctx.body.name);
    const xa = lookupNode(s, path).xa ?? {};
    if (!(name in xa)) throw notFound(`${path} has no extended attribute ${name}`);
    return { value: xa[name] };
  });
}

/**
 * Event details plus `createdParents` (comma-joined) when the mutation created missing parent
 * directories — an additive detail so a mount following the event log sees every new path.
 */
function withParents(details: Record<string, string>, created: string[]): Record<string, string> {
  return created.length ? { ...details, createdParents: joinPaths(created)[0] } : details;
}

function validPath(p: string): boolean {
  try {
    normalizePath(p);
    return true;
  } catch {
    return false;
  }
}
