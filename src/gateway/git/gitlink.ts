// Submodules (git gitlinks, mode 160000) inside a session tree. A gitlink is kept as an empty,
// read-only directory (mode 0o40555) carrying the submodule's commit id in the reserved xattr
// `user.aether.gitlink` (base64 of the 40 hex digits, as every xattr value in a tree), so the
// TreeEntry shape needs no new field. Import creates them, export writes them back as 160000
// entries, and the tree editor refuses any write inside one (PERMISSION_DENIED, so a mount
// reports EACCES): the submodule's own files are not part of the session.
//
// Callers: git/import.ts, git/export.ts, store/tree-store.ts (write guard).
import type { TreeEntry } from '../store/tree-store.js';

/** The reserved xattr naming a gitlink's commit. */
export const GITLINK_XATTR = 'user.aether.gitlink';

const SHA1 = /^[0-9a-f]{40}$/;

/** The submodule commit of a directory entry that is a gitlink, else undefined. */
export function gitlinkOf(e: TreeEntry | undefined): string | undefined {
  const v = e?.t === 'd' ? e.xa?.[GITLINK_XATTR] : undefined;
  if (v === undefined) return undefined;
  const sha = Buffer.from(v, 'base64').toString('latin1');
  return SHA1.test(sha) ? sha : undefined;
}

/** The xattrs of a gitlink directory for `sha`. */
export function gitlinkXattrs(sha: string): Record<string, string> {
  return { [GITLINK_XATTR]: Buffer.from(sha, 'latin1').toString('base64') };
}
