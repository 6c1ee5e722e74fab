// FsRemoteFollow: following remote changes. The watcher (src/fs/remote-watcher.ts) hands changed
// paths to `invalidate`, which marks listings and file metadata stale (bumping the invalidation
// generation) without dropping local changes; `peek`/`inoOf`/`knownPaths` let the adapter ask the
// kernel to forget exactly the names that changed.
// Invariants: a node with local (dirty or queued) changes is never overwritten by a remote version.
// Callers: src/fuse adapters, src/cli/daemon (watcher glue), tests.
import { FsNode } from '../fs-node.js';
import { FsOverlayGlue } from '../overlay/overlay-glue.js';

export abstract class FsRemoteFollow extends FsOverlayGlue {

  /**
   * Another client changed `paths` (from the event log): forget cached listings and extents
   * there so the next access revalidates. Files with local unsaved edits keep them; the upload
   * then detects the conflict through expectedHash. `paths` empty = everything.
   */
  invalidate(paths: string[]): string[] {
    this.stats.remoteInvalidations++;
    const gen = ++this.invalGen; // [posix hook]
    const touched: string[] = [];
    if (paths.length === 0) {
      const walk = (n: FsNode) => {
        n.invalGen = gen;
        if (n.kind === 'dir') {
          n.stale = true;
          for (const c of n.children!.values()) walk(c);
        } else if (!n.dirty) {
          // An open file keeps the extents of the version it was opened from: an edit made before
          // the next read is based on that version (its upload then conflicts instead of merging).
          if (n.remote) this.kernelMayShow(n, n.remoteHash);
          if (n.openCount === 0) n.extents = undefined;
          n.metaStale = true;
        }
      };
      walk(this.root);
      return ['/'];
    }
    for (const p of paths) {
      const node = this.peek(p);
      const parentPath = p.slice(0, Math.max(1, p.lastIndexOf('/')));
      const parent = this.peek(parentPath);
      if (parent && parent.kind === 'dir') {
        parent.stale = true;
        parent.invalGen = gen;
        touched.push(parentPath);
      }
      if (node) {
        node.invalGen = gen;
        if (node.kind === 'dir') node.stale = true;
        else if (!node.dirty) {
          if (node.remote) this.kernelMayShow(node, node.remoteHash);
          if (node.openCount === 0) node.extents = undefined;
          node.metaStale = true;
        }
        touched.push(p);
      }
    }
    return touched;
  }

  /** Look up a path in memory only (no gateway calls). */
  peek(path: string): FsNode | undefined {
    let node: FsNode | undefined = this.root;
    for (const part of path.split('/')) {
      if (!part) continue;
      node = node?.children?.get(part);
      if (!node) return undefined;
    }
    return node;
  }

  /** Inode number of a path if it is known in memory (for kernel invalidation). */
  inoOf(path: string): number | undefined {
    return this.peek(path)?.ino;
  }

  /** Paths of every node held in memory, parents first (kernel invalidation of "everything"). */
  knownPaths(limit = 1_000_000): string[] {
    const out: string[] = [];
    const walk = (n: FsNode, p: string) => {
      if (out.length >= limit) return;
      out.push(p);
      if (n.children) for (const [name, c] of n.children) walk(c, p === '/' ? `/${name}` : `${p}/${name}`);
    };
    walk(this.root, '/');
    return out;
  }
}
