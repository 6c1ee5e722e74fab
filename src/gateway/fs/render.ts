// Rendering tree entries as public API objects (v1ManifestNode, v1CasExtent) and naming manifest
// versions. proto3 JSON rules apply: int64 fields are strings, int32 numbers, enums full names.
// Callers: routes/manifest.ts, routes/files.ts.
import { createHash } from 'node:crypto';
import type { Extent, TreeEntry, TreeStore } from '../store/tree-store.js';
import { S_IFLNK } from '../store/tree-store.js';
import { formatTimestamp } from '../http/validate.js';
import type { CasExtent, ManifestNode, VfsFileType } from '../../protocol/types.js';

const FILE_TYPE: Record<TreeEntry['t'], VfsFileType> = {
  f: 'VFS_FILE_TYPE_FILE',
  d: 'VFS_FILE_TYPE_DIRECTORY',
  l: 'VFS_FILE_TYPE_SYMLINK',
};

/** Stored extents → public CAS extents (file offsets accumulated; holes have hash ""). */
export function renderExtents(extents: readonly Extent[]): CasExtent[] {
  const out: CasExtent[] = [];
  let off = 0;
  for (const x of extents) {
    out.push({ offset: String(off), length: String(x.n), hash: x.h, casOffset: x.h === '' ? '0' : String(x.o) });
    off += x.n;
  }
  return out;
}

/** Hard-link count: group size for linked files, 2 + subdirectories for directories, else 1. */
export function nlinkOf(trees: TreeStore, entry: TreeEntry, links: Record<string, string[]>): number {
  if (entry.t === 'f') return entry.ln ? Math.max(1, links[entry.ln]?.length ?? 1) : 1;
  if (entry.t === 'd') {
    let subdirs = 0;
    if (entry.tr) subdirs = trees.counts(entry.tr).subdirs;
    return 2 + subdirs;
  }
  return 1;
}

/**
 * One manifest node. Directories: sizeBytes "0", contentHash "". Symlinks: sizeBytes is the target's
 * UTF-8 length, contentHash "" (the contract's rule), mode 0120777, plus `symlinkTarget`.
 */
export function renderNode(
  trees: TreeStore,
  links: Record<string, string[]>,
  path: string,
  e: TreeEntry,
  opts: { includeCasExtents?: boolean } = {},
): ManifestNode {
  const node: ManifestNode = {
    path,
    fileType: FILE_TYPE[e.t],
    sizeBytes: e.t === 'f' ? String(e.s ?? 0) : e.t === 'l' ? String(Buffer.byteLength(e.tg ?? '')) : '0',
    contentHash: e.t === 'f' ? (e.h ?? '') : '',
    mode: e.t === 'l' ? e.m || S_IFLNK | 0o777 : e.m,
  };
  if (opts.includeCasExtents && e.t === 'f') node.casExtents = renderExtents(e.x ?? []);
  if (e.t === 'l') node.symlinkTarget = e.tg ?? '';
  node.nlink = nlinkOf(trees, e, links);
  node.modifiedAt = formatTimestamp(e.mt);
  const names = Object.keys(e.xa ?? {});
  if (names.length) node.xattrNames = names;
  return node;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * The manifest version of a root tree: "mf_" + 26 Crockford base32 characters of a digest of the
 * root hash (the same shape as the seed's "mf_01HRJ4D2S3SK3CFBB9K4CMQ0GE"). Root hashes are Merkle
 * hashes of the whole tree, so equal trees share a manifestHash and any change yields a new one.
 */
export function manifestHashOf(root: string): string {
  const d = createHash('sha256').update('aether-manifest\0' + root).digest();
  let bits = 0;
  let acc = 0;
  let out = '';
  for (const byte of d) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < 26) {
      out += CROCKFORD[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
    if (out.length >= 26) break;
  }
  return 'mf_' + out;
}
