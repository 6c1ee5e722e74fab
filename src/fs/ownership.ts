// File ownership (uid/gid) for the lifetime of a mount. The gateway has no owner fields, so a
// file's owner is the mounting user unless something in this mount said otherwise: the process
// that created it (create, mkdir, symlink, mknod) or a chown. Kept per inode number (stable while
// mounted, shared by every hard-link name); forgotten at unmount (documented in SEMANTICS.md).
// With allow_other + default_permissions the kernel enforces modes and owners from what we report,
// and checks chown/chmod permissions (CAP_CHOWN, group membership) and clears SUID/SGID itself
// before the request reaches us; the one rule left to the filesystem is BSD group inheritance: a
// name created in a set-group-ID directory gets the directory's group (and a new directory keeps
// the set-group-ID bit).
// Invariants: FUSE-free, no I/O; an inode without an entry shows the owner the core reports
// (the mounting user). Callers: src/fuse/fuse3-mount.ts (the adapter patches outgoing attributes), tests.

export interface Owner {
  uid: number;
  gid: number;
}

const S_ISGID = 0o2000;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;

export class OwnerTable {
  private readonly byIno = new Map<number, Owner>();

  /** The owner of an inode with its attributes `a` as the core reports them. */
  get(ino: number, a: Owner): Owner {
    return this.byIno.get(ino) ?? a;
  }

  /** Set the owner (uid/gid -1 = leave that part unchanged); `a`: the core's attributes. */
  set(ino: number, uid: number, gid: number, a: Owner): void {
    const cur = this.get(ino, a);
    const next = { uid: uid < 0 ? cur.uid : uid, gid: gid < 0 ? cur.gid : gid };
    if (next.uid === a.uid && next.gid === a.gid) this.byIno.delete(ino);
    else this.byIno.set(ino, next);
  }

  /**
   * Owner of a name just created by `caller` in a directory (`parent`: its inode, mode and the
   * core's uid/gid): the caller's uid, and the caller's gid unless the directory is set-group-ID.
   */
  forNew(caller: Owner, parent: Owner & { ino: number; mode: number }): Owner {
    const gid = parent.mode & S_ISGID ? this.get(parent.ino, parent).gid : caller.gid;
    return { uid: caller.uid, gid };
  }

  /** A new directory in a set-group-ID directory keeps the bit (the mode to chmod to, or undefined). */
  static inheritedDirMode(newMode: number, parentMode: number): number | undefined {
    if ((newMode & S_IFMT) !== S_IFDIR || !(parentMode & S_ISGID) || newMode & S_ISGID) return undefined;
    return (newMode | S_ISGID) & 0o7777;
  }

  /** Forget an inode (its last name went away and nothing holds it). */
  forget(ino: number): void {
    this.byIno.delete(ino);
  }

  get size(): number {
    return this.byIno.size;
  }
}
