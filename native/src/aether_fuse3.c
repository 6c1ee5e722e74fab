// aether_fuse3: a small N-API addon that serves a libfuse3 mount (high-level, path-based API)
// from ONE JavaScript event loop.
//
// Threads:
//   - the JS thread: calls mount()/reply()/invalidate()/unmount(); receives every event through
//     one napi_threadsafe_function (request, interrupt, mounted, invalidated, stopped);
//   - the loop thread: fuse_mount() then fuse_loop_mt(), which runs FUSE worker threads;
//   - FUSE worker threads: each kernel request becomes a `struct req` on the worker's stack, is
//     posted to JS, and the worker sleeps on the request's condition variable until JS calls
//     reply(id, result, payload). While it sleeps it polls fuse_interrupted() every 50 ms and, once
//     the kernel interrupts the request (Ctrl-C on a process blocked in F_SETLKW), tells JS so it
//     can abort the work (the blocking HTTP lock call) and answer -EINTR;
//   - the invalidation thread: runs fuse_invalidate_path() for paths queued by JS. Kernel cache
//     notifications must never run on the JS thread (it may have to answer the very requests the
//     kernel waits for) nor on a worker thread, so they get their own thread;
//   - a teardown thread per unmount(): lazy-detaches the mount, waits for the loop to end, then
//     destroys the session (never blocks the JS thread: it may still have requests to answer).
//
// Invariants: a request is answered exactly once (reply() for an unknown id is ignored); JS never
// touches a request after replying; the worker owns its request memory and removes it from the
// pending list before returning. Nothing here knows about Aether: the JS side (src/fuse/
// fuse3-mount.ts) maps ops to the filesystem core. Callers: src/fuse/fuse3-mount.ts only.
#include <fuse.h>
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

// ---- op codes and event kinds (exported to JS as `ops` and `events`) ---------------------------

enum {
  OP_GETATTR = 1,
  OP_READLINK,
  OP_MKDIR,
  OP_UNLINK,
  OP_RMDIR,
  OP_SYMLINK,
  OP_RENAME,
  OP_LINK,
  OP_CHMOD,
  OP_TRUNCATE,
  OP_OPEN,
  OP_READ,
  OP_WRITE,
  OP_STATFS,
  OP_FLUSH,
  OP_RELEASE,
  OP_FSYNC,
  OP_SETXATTR,
  OP_GETXATTR,
  OP_LISTXATTR,
  OP_REMOVEXATTR,
  OP_READDIR,
  OP_ACCESS,
  OP_CREATE,
  OP_LOCK,
  OP_UTIMENS,
  OP_FLOCK,
  OP_FALLOCATE,
  OP_CHOWN,
  OP_COUNT
};

static const char *const OP_NAMES[OP_COUNT] = {
    [OP_GETATTR] = "getattr",         [OP_READLINK] = "readlink",   [OP_MKDIR] = "mkdir",
    [OP_UNLINK] = "unlink",           [OP_RMDIR] = "rmdir",         [OP_SYMLINK] = "symlink",
    [OP_RENAME] = "rename",           [OP_LINK] = "link",           [OP_CHMOD] = "chmod",
    [OP_TRUNCATE] = "truncate",       [OP_OPEN] = "open",           [OP_READ] = "read",
    [OP_WRITE] = "write",             [OP_STATFS] = "statfs",       [OP_FLUSH] = "flush",
    [OP_RELEASE] = "release",         [OP_FSYNC] = "fsync",         [OP_SETXATTR] = "setxattr",
    [OP_GETXATTR] = "getxattr",       [OP_LISTXATTR] = "listxattr", [OP_REMOVEXATTR] = "removexattr",
    [OP_READDIR] = "readdir",         [OP_ACCESS] = "access",       [OP_CREATE] = "create",
    [OP_LOCK] = "lock",               [OP_UTIMENS] = "utimens",     [OP_FLOCK] = "flock",
    [OP_FALLOCATE] = "fallocate",     [OP_CHOWN] = "chown",
};

enum { EV_REQUEST = 0, EV_INTERRUPT = 1, EV_MOUNTED = 2, EV_INVALIDATED = 3, EV_STOPPED = 4 };

// Lock commands/types as JS sees them (independent of the platform's F_* values).
enum { LK_GET = 0, LK_SET = 1, LK_SETW = 2 };
enum { LK_RD = 0, LK_WR = 1, LK_UN = 2 };

#define STAT_FIELDS 11   // ino mode nlink uid gid size blocks blksize atimeMs mtimeMs ctimeMs
#define STATFS_FIELDS 9  // bsize frsize blocks bfree bavail files ffree favail namemax
#define POLL_MS 50

// ---- per-request state ---------------------------------------------------------------------------

struct req {
  struct req *next;
  uint32_t id;
  int op;
  int done;
  int result;
  int interrupt_sent;
  pthread_cond_t cv;
  // inputs
  const char *path;
  const char *path2;
  double fh;  // -1 = none
  double a, b, c;
  int has_owner;
  uint64_t owner;
  const char *data;
  size_t data_len;
  int64_t x, y;
  int has_xy;
  uint32_t uid, gid;  // the calling process (fuse_get_context), for ownership of new files
  // outputs
  struct stat *st;
  struct statvfs *stv;
  char *buf;
  size_t size;
  struct flock *lk;
  uint64_t fh_out;
  char *dir_names;  // NUL-separated
  double *dir_stats;
  uint32_t dir_count;
};

struct inval_job {
  struct inval_job *next;
  uint32_t token;
  uint32_t count;
  char **paths;
};

struct mount {
  struct fuse *fuse;
  char *mountpoint;
  napi_threadsafe_function tsfn;
  int tsfn_released;

  pthread_mutex_t mu;  // guards pending, next_id, the flags below
  pthread_cond_t state_cv;
  struct req *pending;
  uint32_t next_id;
  int mounted;
  int loop_started;
  int loop_done;
  int loop_result;
  int stopping;

  pthread_t loop_thread;
  pthread_t inval_thread;
  int inval_started;
  pthread_mutex_t iq_mu;
  pthread_cond_t iq_cv;
  struct inval_job *iq_head, *iq_tail;
  int iq_stop;

  // configuration
  double attr_timeout;
  double entry_timeout;
  unsigned max_write;
  unsigned max_threads;
  int kernel_cache;
  int kernel_locks;
  int unmount_timeout_ms;
  atomic_int locks_used;
  // The JS handle and the thread-safe function both reference this struct: freed by the last one.
  int refs;
  // File handles opened read-only (see a_flush), a small chained hash set guarded by `mu`.
  struct fh_entry *ro_fh[256];
};

struct fh_entry {
  struct fh_entry *next;
  uint64_t fh;
};

static void ro_add(struct mount *m, uint64_t fh) {
  struct fh_entry *e = malloc(sizeof(*e));
  if (!e) return;
  e->fh = fh;
  pthread_mutex_lock(&m->mu);
  e->next = m->ro_fh[fh & 255];
  m->ro_fh[fh & 255] = e;
  pthread_mutex_unlock(&m->mu);
}

/** Remove `fh`; returns whether it was there. */
static int ro_take(struct mount *m, uint64_t fh, int remove) {
  int found = 0;
  pthread_mutex_lock(&m->mu);
  for (struct fh_entry **pp = &m->ro_fh[fh & 255]; *pp; pp = &(*pp)->next) {
    if ((*pp)->fh == fh) {
      found = 1;
      if (remove) {
        struct fh_entry *e = *pp;
        *pp = e->next;
        free(e);
      }
      break;
    }
  }
  pthread_mutex_unlock(&m->mu);
  return found;
}

struct msg {
  int kind;
  uint32_t id;
  int result;
  struct req *req;
};

static struct mount *cur_mount(void) { return (struct mount *)fuse_get_context()->private_data; }

static void post(struct mount *m, int kind, uint32_t id, int result, struct req *r) {
  struct msg *msg = calloc(1, sizeof(*msg));
  if (!msg) return;
  msg->kind = kind;
  msg->id = id;
  msg->result = result;
  msg->req = r;
  if (napi_call_threadsafe_function(m->tsfn, msg, napi_tsfn_nonblocking) != napi_ok) {
    if (r) {
      pthread_mutex_lock(&m->mu);
      r->result = -EIO;
      r->done = 1;
      pthread_cond_signal(&r->cv);
      pthread_mutex_unlock(&m->mu);
    }
    free(msg);
  }
}

static void deadline_in(struct timespec *ts, int ms) {
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

static void req_init(struct req *r, int op) {
  memset(r, 0, sizeof(*r));
  r->op = op;
  r->fh = -1;
  struct fuse_context *ctx = fuse_get_context();
  if (ctx) {
    r->uid = ctx->uid;
    r->gid = ctx->gid;
  }
}

/** Post a request to JS and sleep until it is answered. Returns the result (negative errno on error). */
static int dispatch(struct req *r) {
  struct mount *m = cur_mount();
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&r->cv, &ca);
  pthread_condattr_destroy(&ca);

  pthread_mutex_lock(&m->mu);
  if (m->tsfn_released) {
    pthread_mutex_unlock(&m->mu);
    pthread_cond_destroy(&r->cv);
    return -EIO;
  }
  if (++m->next_id == 0) m->next_id = 1;
  r->id = m->next_id;
  r->next = m->pending;
  m->pending = r;
  pthread_mutex_unlock(&m->mu);

  post(m, EV_REQUEST, r->id, 0, r);

  pthread_mutex_lock(&m->mu);
  while (!r->done) {
    struct timespec ts;
    deadline_in(&ts, POLL_MS);
    pthread_cond_timedwait(&r->cv, &m->mu, &ts);
    if (!r->done && !r->interrupt_sent && fuse_interrupted()) {
      r->interrupt_sent = 1;
      uint32_t id = r->id;
      pthread_mutex_unlock(&m->mu);
      post(m, EV_INTERRUPT, id, 0, NULL);
      pthread_mutex_lock(&m->mu);
    }
  }
  for (struct req **pp = &m->pending; *pp; pp = &(*pp)->next) {
    if (*pp == r) {
      *pp = r->next;
      break;
    }
  }
  pthread_mutex_unlock(&m->mu);
  pthread_cond_destroy(&r->cv);
  return r->result;
}

static void set_fi_fh(struct req *r, struct fuse_file_info *fi) {
  if (fi) r->fh = (double)fi->fh;
}

static double ts_ms(const struct timespec *t) {
  if (t->tv_nsec == UTIME_OMIT) return NAN;
  if (t->tv_nsec == UTIME_NOW) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec * 1000.0 + (double)now.tv_nsec / 1e6;
  }
  return (double)t->tv_sec * 1000.0 + (double)t->tv_nsec / 1e6;
}

static void ms_to_ts(double ms, struct timespec *t) {
  double sec = floor(ms / 1000.0);
  t->tv_sec = (time_t)sec;
  t->tv_nsec = (long)((ms - sec * 1000.0) * 1e6);
  if (t->tv_nsec < 0) t->tv_nsec = 0;
  if (t->tv_nsec > 999999999L) t->tv_nsec = 999999999L;
}

static void fill_stat(struct stat *st, const double *v) {
  memset(st, 0, sizeof(*st));
  st->st_ino = (ino_t)v[0];
  st->st_mode = (mode_t)v[1];
  st->st_nlink = (nlink_t)v[2];
  st->st_uid = (uid_t)v[3];
  st->st_gid = (gid_t)v[4];
  st->st_size = (off_t)v[5];
  st->st_blocks = (blkcnt_t)v[6];
  st->st_blksize = (blksize_t)v[7];
  ms_to_ts(v[8], &st->st_atim);
  ms_to_ts(v[9], &st->st_mtim);
  ms_to_ts(v[10], &st->st_ctim);
}

// ---- FUSE operations (worker threads) -------------------------------------------------------------

static int a_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
  struct req r;
  req_init(&r, OP_GETATTR);
  r.path = path;
  set_fi_fh(&r, fi);
  r.st = st;
  return dispatch(&r);
}

static int a_readlink(const char *path, char *buf, size_t size) {
  struct req r;
  req_init(&r, OP_READLINK);
  r.path = path;
  r.buf = buf;
  r.size = size;
  return dispatch(&r);
}

static int a_mkdir(const char *path, mode_t mode) {
  struct req r;
  req_init(&r, OP_MKDIR);
  r.path = path;
  r.a = mode;
  return dispatch(&r);
}

static int a_unlink(const char *path) {
  struct req r;
  req_init(&r, OP_UNLINK);
  r.path = path;
  return dispatch(&r);
}

static int a_rmdir(const char *path) {
  struct req r;
  req_init(&r, OP_RMDIR);
  r.path = path;
  return dispatch(&r);
}

static int a_symlink(const char *target, const char *path) {
  struct req r;
  req_init(&r, OP_SYMLINK);
  r.path = path;
  r.path2 = target;
  return dispatch(&r);
}

static int a_rename(const char *from, const char *to, unsigned int flags) {
  struct req r;
  req_init(&r, OP_RENAME);
  r.path = from;
  r.path2 = to;
  r.a = flags;
  return dispatch(&r);
}

static int a_link(const char *from, const char *to) {
  struct req r;
  req_init(&r, OP_LINK);
  r.path = from;
  r.path2 = to;
  return dispatch(&r);
}

static int a_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) {
  struct req r;
  req_init(&r, OP_CHMOD);
  r.path = path;
  r.a = mode;
  set_fi_fh(&r, fi);
  return dispatch(&r);
}

// chown: the kernel (default_permissions) has checked who may change what; -1 = unchanged.
static int a_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi) {
  struct req r;
  req_init(&r, OP_CHOWN);
  r.path = path;
  set_fi_fh(&r, fi);
  r.a = uid == (uid_t)-1 ? -1 : (double)uid;
  r.b = gid == (gid_t)-1 ? -1 : (double)gid;
  return dispatch(&r);
}

static int a_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
  struct req r;
  req_init(&r, OP_TRUNCATE);
  r.path = path;
  r.a = (double)size;
  set_fi_fh(&r, fi);
  return dispatch(&r);
}

static int a_open(const char *path, struct fuse_file_info *fi) {
  struct req r;
  req_init(&r, OP_OPEN);
  r.path = path;
  r.a = fi->flags;
  int res = dispatch(&r);
  if (res < 0) return res;
  fi->fh = r.fh_out;
  if ((fi->flags & O_ACCMODE) == O_RDONLY) ro_add(cur_mount(), fi->fh);
  return 0;
}

static int a_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
  struct req r;
  req_init(&r, OP_CREATE);
  r.path = path;
  r.a = mode;
  r.b = fi->flags;
  int res = dispatch(&r);
  if (res < 0) return res;
  fi->fh = r.fh_out;
  return 0;
}

static int a_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  struct req r;
  req_init(&r, OP_READ);
  r.path = path;
  set_fi_fh(&r, fi);
  r.a = (double)size;
  r.b = (double)off;
  r.buf = buf;
  r.size = size;
  return dispatch(&r);
}

static int a_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  struct req r;
  req_init(&r, OP_WRITE);
  r.path = path;
  set_fi_fh(&r, fi);
  r.a = (double)size;
  r.b = (double)off;
  r.data = buf;
  r.data_len = size;
  return dispatch(&r);
}

static int a_statfs(const char *path, struct statvfs *stv) {
  struct req r;
  req_init(&r, OP_STATFS);
  r.path = path;
  r.stv = stv;
  return dispatch(&r);
}

static int a_flush(const char *path, struct fuse_file_info *fi) {
  struct mount *m = cur_mount();
  // close() of a read-only descriptor has nothing to upload; it only matters for fcntl locks
  // (POSIX drops the process's locks on any close), so skip the round trip while no lock was
  // ever taken through this mount.
  if (!atomic_load(&m->locks_used) && ro_take(m, fi->fh, 0)) return 0;
  struct req r;
  req_init(&r, OP_FLUSH);
  r.path = path;
  set_fi_fh(&r, fi);
  r.has_owner = 1;
  r.owner = fi->lock_owner;
  return dispatch(&r);
}

static int a_release(const char *path, struct fuse_file_info *fi) {
  struct mount *m = cur_mount();
  ro_take(m, fi->fh, 1);
  struct req r;
  req_init(&r, OP_RELEASE);
  r.path = path;
  set_fi_fh(&r, fi);
  r.a = fi->flags;
  // flock locks go with the open file description: the kernel says so on its last release.
  r.b = (fi->flock_release && atomic_load(&m->locks_used)) ? 1 : 0;
  r.has_owner = 1;
  r.owner = fi->lock_owner;
  return dispatch(&r);
}

static int a_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
  struct req r;
  req_init(&r, OP_FSYNC);
  r.path = path;
  set_fi_fh(&r, fi);
  r.a = datasync;
  return dispatch(&r);
}

static int a_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi) {
  (void)path; (void)datasync; (void)fi;
  return 0;  // namespace operations reach the gateway before they return
}

static int a_setxattr(const char *path, const char *name, const char *value, size_t size, int flags) {
  struct req r;
  req_init(&r, OP_SETXATTR);
  r.path = path;
  r.path2 = name;
  r.data = value;
  r.data_len = size;
  r.a = flags;
  return dispatch(&r);
}

static int a_getxattr(const char *path, const char *name, char *value, size_t size) {
  struct req r;
  req_init(&r, OP_GETXATTR);
  r.path = path;
  r.path2 = name;
  r.buf = value;
  r.size = size;
  return dispatch(&r);
}

static int a_listxattr(const char *path, char *list, size_t size) {
  struct req r;
  req_init(&r, OP_LISTXATTR);
  r.path = path;
  r.buf = list;
  r.size = size;
  return dispatch(&r);
}

static int a_removexattr(const char *path, const char *name) {
  struct req r;
  req_init(&r, OP_REMOVEXATTR);
  r.path = path;
  r.path2 = name;
  return dispatch(&r);
}

static int a_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off, struct fuse_file_info *fi,
                     enum fuse_readdir_flags flags) {
  (void)off;
  struct req r;
  req_init(&r, OP_READDIR);
  r.path = path;
  set_fi_fh(&r, fi);
  int res = dispatch(&r);
  if (res < 0) return res;
  // Whole listing in one call (offset 0 for every entry), attributes included for READDIRPLUS.
  filler(buf, ".", NULL, 0, 0);
  filler(buf, "..", NULL, 0, 0);
  const char *name = r.dir_names;
  for (uint32_t i = 0; i < r.dir_count && name; i++) {
    struct stat st;
    fill_stat(&st, r.dir_stats + (size_t)i * STAT_FIELDS);
    if (filler(buf, name, &st, 0, (flags & FUSE_READDIR_PLUS) ? FUSE_FILL_DIR_PLUS : 0)) break;
    name += strlen(name) + 1;
  }
  free(r.dir_names);
  free(r.dir_stats);
  return 0;
}

static int a_access(const char *path, int mask) {
  struct req r;
  req_init(&r, OP_ACCESS);
  r.path = path;
  r.a = mask;
  return dispatch(&r);
}

static int a_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
  struct req r;
  req_init(&r, OP_UTIMENS);
  r.path = path;
  set_fi_fh(&r, fi);
  r.a = tv ? ts_ms(&tv[0]) : ts_ms(&(struct timespec){0, UTIME_NOW});
  r.b = tv ? ts_ms(&tv[1]) : ts_ms(&(struct timespec){0, UTIME_NOW});
  return dispatch(&r);
}

static int a_lock(const char *path, struct fuse_file_info *fi, int cmd, struct flock *lk) {
  struct mount *m = cur_mount();
  int kcmd = cmd == F_GETLK ? LK_GET : cmd == F_SETLKW ? LK_SETW : LK_SET;
  int ktype = lk->l_type == F_RDLCK ? LK_RD : lk->l_type == F_WRLCK ? LK_WR : LK_UN;
  // Every close() sends an unlock for the closing process (libfuse's flush): when this mount has
  // never taken a lock there is nothing to drop, so answer without a round trip to JS.
  if (kcmd != LK_GET && ktype == LK_UN && !atomic_load(&m->locks_used)) return 0;
  if (kcmd != LK_GET && ktype != LK_UN) atomic_store(&m->locks_used, 1);
  struct req r;
  req_init(&r, OP_LOCK);
  r.path = path;
  set_fi_fh(&r, fi);
  r.a = kcmd;
  r.b = ktype;
  r.c = lk->l_pid;
  r.has_owner = 1;
  r.owner = fi->lock_owner;
  r.has_xy = 1;
  r.x = lk->l_start;
  r.y = lk->l_len;
  r.lk = lk;
  return dispatch(&r);
}

static int a_flock(const char *path, struct fuse_file_info *fi, int op) {
  struct mount *m = cur_mount();
  int kind = op & (LOCK_SH | LOCK_EX | LOCK_UN);
  int ktype = kind == LOCK_SH ? LK_RD : kind == LOCK_EX ? LK_WR : LK_UN;
  if (ktype == LK_UN && !atomic_load(&m->locks_used)) return 0;
  if (ktype != LK_UN) atomic_store(&m->locks_used, 1);
  struct req r;
  req_init(&r, OP_FLOCK);
  r.path = path;
  set_fi_fh(&r, fi);
  r.a = ktype;
  r.b = (op & LOCK_NB) ? 1 : 0;
  r.c = fuse_get_context()->pid;
  r.has_owner = 1;
  r.owner = fi->lock_owner;
  return dispatch(&r);
}

// fallocate(2): the kernel has checked the descriptor (EBADF, EISDIR, ESPIPE), offset/len (EINVAL,
// EFBIG) and the mode combinations it forwards; JS gets mode in `a`, offset and length as int64.
static int a_fallocate(const char *path, int mode, off_t off, off_t len, struct fuse_file_info *fi) {
  struct req r;
  req_init(&r, OP_FALLOCATE);
  r.path = path;
  set_fi_fh(&r, fi);
  r.a = mode;
  r.has_xy = 1;
  r.x = off;
  r.y = len;
  return dispatch(&r);
}

static void *a_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
  struct mount *m = cur_mount();
  cfg->use_ino = 1;        // st_ino comes from the core: stable while mounted
  cfg->hard_remove = 0;    // libfuse parks unlinked-but-open files as .fuse_hidden*: the core turns that into a remote unlink and keeps them local, so fstat/read/write on the open fd keep working
  cfg->nullpath_ok = 0;
  cfg->intr = 0;           // never signal worker threads (Node owns the signals); we poll instead
  cfg->attr_timeout = m->attr_timeout;
  cfg->entry_timeout = m->entry_timeout;
  cfg->negative_timeout = 0;  // names created elsewhere must appear at once
  cfg->kernel_cache = m->kernel_cache;  // keep page cache across opens; we invalidate exactly
  cfg->auto_cache = 0;
  if (m->max_write) conn->max_write = m->max_write;
  // Writeback cache stays off: the daemon decides O_APPEND offsets and file sizes (remote changes),
  // and every write must reach the staging area before write(2) returns (see docs/SEMANTICS.md).
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  if (m->kernel_locks) {
    if (conn->capable & FUSE_CAP_POSIX_LOCKS) conn->want |= FUSE_CAP_POSIX_LOCKS;
    if (conn->capable & FUSE_CAP_FLOCK_LOCKS) conn->want |= FUSE_CAP_FLOCK_LOCKS;
  }
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  return m;
}

static struct fuse_operations make_ops(int kernel_locks) {
  struct fuse_operations o;
  memset(&o, 0, sizeof(o));
  o.getattr = a_getattr;
  o.readlink = a_readlink;
  o.mkdir = a_mkdir;
  o.unlink = a_unlink;
  o.rmdir = a_rmdir;
  o.symlink = a_symlink;
  o.rename = a_rename;
  o.link = a_link;
  o.chmod = a_chmod;
  o.chown = a_chown;
  o.truncate = a_truncate;
  o.open = a_open;
  o.read = a_read;
  o.write = a_write;
  o.statfs = a_statfs;
  o.flush = a_flush;
  o.release = a_release;
  o.fsync = a_fsync;
  o.fsyncdir = a_fsyncdir;
  o.setxattr = a_setxattr;
  o.getxattr = a_getxattr;
  o.listxattr = a_listxattr;
  o.removexattr = a_removexattr;
  o.readdir = a_readdir;
  o.access = a_access;
  o.create = a_create;
  o.utimens = a_utimens;
  o.fallocate = a_fallocate;
  o.init = a_init;
  if (kernel_locks) {
    o.lock = a_lock;
    o.flock = a_flock;
  }
  return o;
}

// ---- loop, invalidation and teardown threads ------------------------------------------------------

static void *loop_main(void *arg) {
  struct mount *m = arg;
  int res = fuse_mount(m->fuse, m->mountpoint);
  int err = res == 0 ? 0 : (errno ? -errno : -EIO);
  pthread_mutex_lock(&m->mu);
  m->mounted = res == 0;
  pthread_mutex_unlock(&m->mu);
  post(m, EV_MOUNTED, 0, err, NULL);
  if (res == 0) {
#if FUSE_USE_VERSION >= 312
    struct fuse_loop_config *cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_clone_fd(cfg, 0);
    fuse_loop_cfg_set_idle_threads(cfg, 10);
    // Blocking lock waits each hold a worker: leave plenty so they never starve the mount.
    fuse_loop_cfg_set_max_threads(cfg, m->max_threads);
    res = fuse_loop_mt(m->fuse, cfg);
    fuse_loop_cfg_destroy(cfg);
#else
    struct fuse_loop_config cfg = {.clone_fd = 0, .max_idle_threads = 10};
    res = fuse_loop_mt(m->fuse, &cfg);
#endif
  }
  pthread_mutex_lock(&m->mu);
  m->loop_done = 1;
  m->loop_result = res;
  pthread_cond_broadcast(&m->state_cv);
  pthread_mutex_unlock(&m->mu);
  return NULL;
}

static void free_job(struct inval_job *j) {
  for (uint32_t i = 0; i < j->count; i++) free(j->paths[i]);
  free(j->paths);
  free(j);
}

static void *inval_main(void *arg) {
  struct mount *m = arg;
  for (;;) {
    pthread_mutex_lock(&m->iq_mu);
    while (!m->iq_head && !m->iq_stop) pthread_cond_wait(&m->iq_cv, &m->iq_mu);
    struct inval_job *j = m->iq_head;
    if (j) {
      m->iq_head = j->next;
      if (!m->iq_head) m->iq_tail = NULL;
    }
    int stop = m->iq_stop;
    pthread_mutex_unlock(&m->iq_mu);
    if (!j) {
      if (stop) break;
      continue;
    }
    pthread_mutex_lock(&m->mu);
    int live = m->mounted && !m->loop_done;
    pthread_mutex_unlock(&m->mu);
    int done = 0;
    for (uint32_t i = 0; i < j->count && live; i++) {
      // -ENOENT: the kernel never saw this path (nothing cached): not an error.
      if (fuse_invalidate_path(m->fuse, j->paths[i]) == 0) done++;
    }
    post(m, EV_INVALIDATED, j->token, done, NULL);
    free_job(j);
  }
  return NULL;
}

static int run_fusermount(const char *mountpoint) {
  const char *tools[] = {"fusermount3", "fusermount"};
  for (int i = 0; i < 2; i++) {
    pid_t pid;
    char *argv[] = {(char *)tools[i], "-u", "-z", "--", (char *)mountpoint, NULL};
    if (posix_spawnp(&pid, tools[i], NULL, NULL, argv, environ) != 0) continue;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
  }
  return -1;
}

static void *teardown_main(void *arg) {
  struct mount *m = arg;
  pthread_mutex_lock(&m->mu);
  int done = m->loop_done;
  int mounted = m->mounted;
  pthread_mutex_unlock(&m->mu);
  if (!done) {
    // Lazy detach: new lookups fail at once; the kernel ends the connection (and our loop) as soon
    // as nothing in the mount is open any more. (Not mounted: the loop thread is just finishing.)
    if (mounted && umount2(m->mountpoint, MNT_DETACH) != 0) run_fusermount(m->mountpoint);
    struct timespec ts;
    deadline_in(&ts, m->unmount_timeout_ms);
    pthread_mutex_lock(&m->mu);
    while (!m->loop_done) {
      if (pthread_cond_timedwait(&m->state_cv, &m->mu, &ts) == ETIMEDOUT) break;
    }
    done = m->loop_done;
    pthread_mutex_unlock(&m->mu);
  }
  // No fuse_exit() before the detach: worker threads stop reading /dev/fuse once the session is
  // marked exited, and requests the kernel still sends for files open in a lazily detached mount
  // (flush, release) would then never be answered.
  if (done) {
    if (m->loop_started) pthread_join(m->loop_thread, NULL);
    pthread_mutex_lock(&m->iq_mu);
    m->iq_stop = 1;
    pthread_cond_signal(&m->iq_cv);
    pthread_mutex_unlock(&m->iq_mu);
    if (m->inval_started) pthread_join(m->inval_thread, NULL);
    m->inval_started = 0;
    if (mounted) fuse_unmount(m->fuse);  // closes /dev/fuse; the mount is already detached
    fuse_destroy(m->fuse);
    m->fuse = NULL;
  }
  post(m, EV_STOPPED, 0, done ? 0 : -EBUSY, NULL);
  return NULL;
}

// ---- JS side ------------------------------------------------------------------------------------

#define NAPI_OK(call)                                                     \
  do {                                                                    \
    if ((call) != napi_ok) {                                              \
      napi_throw_error(env, "AETHER_FUSE3_NAPI", "N-API call failed: " #call); \
      return NULL;                                                        \
    }                                                                     \
  } while (0)

static napi_value str_or_null(napi_env env, const char *s) {
  napi_value v;
  if (s) napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  else napi_get_null(env, &v);
  return v;
}

static napi_value num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  struct mount *m = context;
  struct msg *msg = data;
  if (!env || !js_cb) {
    if (msg->kind == EV_REQUEST && msg->req) {
      pthread_mutex_lock(&m->mu);
      msg->req->result = -EIO;
      msg->req->done = 1;
      pthread_cond_signal(&msg->req->cv);
      pthread_mutex_unlock(&m->mu);
    }
    free(msg);
    return;
  }
  napi_value undef, argv[15];
  napi_get_undefined(env, &undef);
  size_t argc;
  if (msg->kind == EV_REQUEST) {
    struct req *r = msg->req;
    char owner[24];
    argv[0] = num(env, EV_REQUEST);
    argv[1] = num(env, r->id);
    argv[2] = num(env, r->op);
    argv[3] = str_or_null(env, r->path);
    argv[4] = str_or_null(env, r->path2);
    argv[5] = num(env, r->fh);
    argv[6] = num(env, r->a);
    argv[7] = num(env, r->b);
    argv[8] = num(env, r->c);
    if (r->has_owner) {
      snprintf(owner, sizeof(owner), "%llu", (unsigned long long)r->owner);
      argv[9] = str_or_null(env, owner);
    } else {
      napi_get_null(env, &argv[9]);
    }
    if (r->data) {
      void *copy;
      // The one copy of written bytes: from the kernel's buffer into a JS Buffer.
      if (napi_create_buffer_copy(env, r->data_len, r->data, &copy, &argv[10]) != napi_ok) napi_get_null(env, &argv[10]);
    } else {
      napi_get_null(env, &argv[10]);
    }
    if (r->has_xy) {
      napi_create_bigint_int64(env, r->x, &argv[11]);
      napi_create_bigint_int64(env, r->y, &argv[12]);
    } else {
      argv[11] = undef;
      argv[12] = undef;
    }
    argv[13] = num(env, r->uid);
    argv[14] = num(env, r->gid);
    argc = 15;
  } else {
    argv[0] = num(env, msg->kind);
    argv[1] = num(env, msg->id);
    argv[2] = num(env, msg->result);
    argc = 3;
  }
  napi_value result;
  napi_status st = napi_call_function(env, undef, js_cb, argc, argv, &result);
  if (st != napi_ok) {
    // A throwing handler must not leave the kernel waiting: answer EIO and report the error.
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc);
    }
    if (msg->kind == EV_REQUEST) {
      pthread_mutex_lock(&m->mu);
      for (struct req *p = m->pending; p; p = p->next) {
        if (p->id == msg->id && !p->done) {
          p->result = -EIO;
          p->done = 1;
          pthread_cond_signal(&p->cv);
        }
      }
      pthread_mutex_unlock(&m->mu);
    }
  }
  free(msg);
}

static struct mount *get_mount(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
    napi_throw_type_error(env, NULL, "expected a mount handle");
    return NULL;
  }
  return p;
}

static double get_num(napi_env env, napi_value v, double dflt) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return dflt;
  if (t == napi_number) {
    double d;
    napi_get_value_double(env, v, &d);
    return d;
  }
  if (t == napi_bigint) {
    int64_t i;
    bool lossless;
    napi_get_value_bigint_int64(env, v, &i, &lossless);
    return (double)i;
  }
  return dflt;
}

static int64_t get_i64(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  if (t == napi_bigint) {
    int64_t i;
    bool lossless;
    napi_get_value_bigint_int64(env, v, &i, &lossless);
    return i;
  }
  if (t == napi_number) {
    int64_t i;
    napi_get_value_int64(env, v, &i);
    return i;
  }
  return 0;
}

static double obj_num(napi_env env, napi_value obj, const char *key, double dflt) {
  napi_value v;
  bool has = false;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok || !has) return dflt;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return dflt;
  return get_num(env, v, dflt);
}

/** Read a Float64Array of at least `n` elements into `out`. */
static int get_f64(napi_env env, napi_value v, double *out, size_t n) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return -1;
  napi_typedarray_type type;
  size_t len;
  void *data;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &type, &len, &data, &ab, &off) != napi_ok) return -1;
  if (type != napi_float64_array || len < n) return -1;
  memcpy(out, data, n * sizeof(double));
  return 0;
}

static int get_bytes(napi_env env, napi_value v, void **data, size_t *len) {
  bool is_buf = false;
  if (napi_is_buffer(env, v, &is_buf) == napi_ok && is_buf) return napi_get_buffer_info(env, v, data, len) == napi_ok ? 0 : -1;
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) == napi_ok && is_ta) {
    napi_typedarray_type type;
    napi_value ab;
    size_t off;
    if (napi_get_typedarray_info(env, v, &type, len, data, &ab, &off) != napi_ok || type != napi_uint8_array) return -1;
    return 0;
  }
  return -1;
}

/** Copy a JS reply payload into the waiting request's outputs. Returns the final result. */
static int fill_reply(napi_env env, struct req *r, int result, napi_value payload) {
  if (result < 0) return result;
  switch (r->op) {
    case OP_GETATTR: {
      double v[STAT_FIELDS];
      if (get_f64(env, payload, v, STAT_FIELDS)) return -EIO;
      fill_stat(r->st, v);
      return 0;
    }
    case OP_STATFS: {
      double v[STATFS_FIELDS];
      if (get_f64(env, payload, v, STATFS_FIELDS)) return -EIO;
      memset(r->stv, 0, sizeof(*r->stv));
      r->stv->f_bsize = (unsigned long)v[0];
      r->stv->f_frsize = (unsigned long)v[1];
      r->stv->f_blocks = (fsblkcnt_t)v[2];
      r->stv->f_bfree = (fsblkcnt_t)v[3];
      r->stv->f_bavail = (fsblkcnt_t)v[4];
      r->stv->f_files = (fsfilcnt_t)v[5];
      r->stv->f_ffree = (fsfilcnt_t)v[6];
      r->stv->f_favail = (fsfilcnt_t)v[7];
      r->stv->f_namemax = (unsigned long)v[8];
      return 0;
    }
    case OP_READLINK: {
      size_t len = 0;
      if (r->size == 0) return -ERANGE;
      if (napi_get_value_string_utf8(env, payload, r->buf, r->size, &len) != napi_ok) return -EIO;
      return 0;  // truncated and NUL-terminated by N-API, as readlink wants
    }
    case OP_OPEN:
    case OP_CREATE:
      r->fh_out = (uint64_t)result;
      return 0;
    case OP_READ: {
      void *data;
      size_t len;
      if (get_bytes(env, payload, &data, &len)) return -EIO;
      if (len > r->size) len = r->size;
      memcpy(r->buf, data, len);
      return (int)len;
    }
    case OP_GETXATTR:
    case OP_LISTXATTR: {
      void *data;
      size_t len;
      if (get_bytes(env, payload, &data, &len)) return -EIO;
      if (r->size == 0) return (int)len;  // size query
      if (len > r->size) return -ERANGE;
      memcpy(r->buf, data, len);
      return (int)len;
    }
    case OP_READDIR: {
      napi_value names, stats;
      uint32_t n = 0;
      bool is_arr = false;
      if (napi_is_array(env, payload, &is_arr) != napi_ok || !is_arr) return -EIO;
      if (napi_get_element(env, payload, 0, &names) != napi_ok || napi_get_element(env, payload, 1, &stats) != napi_ok) return -EIO;
      if (napi_get_array_length(env, names, &n) != napi_ok) return -EIO;
      size_t total = 0;
      for (uint32_t i = 0; i < n; i++) {
        napi_value s;
        size_t len = 0;
        if (napi_get_element(env, names, i, &s) != napi_ok || napi_get_value_string_utf8(env, s, NULL, 0, &len) != napi_ok) return -EIO;
        total += len + 1;
      }
      char *blob = malloc(total ? total : 1);
      double *st = malloc(((size_t)n * STAT_FIELDS + 1) * sizeof(double));
      if (!blob || !st || (n && get_f64(env, stats, st, (size_t)n * STAT_FIELDS))) {
        free(blob);
        free(st);
        return -EIO;
      }
      size_t off = 0;
      for (uint32_t i = 0; i < n; i++) {
        napi_value s;
        size_t len = 0;
        napi_get_element(env, names, i, &s);
        napi_get_value_string_utf8(env, s, blob + off, total - off, &len);
        off += len + 1;
      }
      r->dir_names = blob;
      r->dir_stats = st;
      r->dir_count = n;
      return 0;
    }
    case OP_LOCK: {
      if (r->a != LK_GET) return 0;
      // [type, start, len, pid]; type LK_UN = no conflict.
      napi_value v;
      bool is_arr = false;
      if (napi_is_array(env, payload, &is_arr) != napi_ok || !is_arr) return -EIO;
      napi_get_element(env, payload, 0, &v);
      int t = (int)get_num(env, v, LK_UN);
      if (t == LK_UN) {
        r->lk->l_type = F_UNLCK;
        return 0;
      }
      r->lk->l_type = t == LK_RD ? F_RDLCK : F_WRLCK;
      r->lk->l_whence = SEEK_SET;
      napi_get_element(env, payload, 1, &v);
      r->lk->l_start = get_i64(env, v);
      napi_get_element(env, payload, 2, &v);
      r->lk->l_len = get_i64(env, v);
      napi_get_element(env, payload, 3, &v);
      r->lk->l_pid = (pid_t)get_num(env, v, 0);
      return 0;
    }
    default:
      return result;
  }
}

/** reply(handle, id, result, payload?) */
static napi_value js_reply(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "reply(handle, id, result, payload?)");
    return NULL;
  }
  struct mount *m = get_mount(env, argv[0]);
  if (!m) return NULL;
  uint32_t id = (uint32_t)get_num(env, argv[1], 0);
  double res = get_num(env, argv[2], -EIO);
  napi_value payload = argv[3];
  if (argc < 4) napi_get_undefined(env, &payload);
  pthread_mutex_lock(&m->mu);
  struct req *r = m->pending;
  while (r && r->id != id) r = r->next;
  if (r && !r->done) {
    int result = res < 0 ? (int)res : (res > 2147483647.0 ? 2147483647 : (int)res);
    if (r->op == OP_OPEN || r->op == OP_CREATE) {
      if (res >= 0) r->fh_out = (uint64_t)res;
      result = res < 0 ? (int)res : 0;
    } else {
      result = fill_reply(env, r, result, payload);
    }
    r->result = result;
    r->done = 1;
    pthread_cond_signal(&r->cv);
  }
  pthread_mutex_unlock(&m->mu);
  return NULL;
}

static void unref_mount(struct mount *m) {
  // Only free what no thread can touch any more: a mount that never stopped stays allocated.
  pthread_mutex_lock(&m->mu);
  int last = --m->refs == 0;
  int safe = (m->loop_done || !m->loop_started) && !m->inval_started && m->fuse == NULL;
  pthread_mutex_unlock(&m->mu);
  if (!last || !safe) return;
  for (int i = 0; i < 256; i++) {
    while (m->ro_fh[i]) {
      struct fh_entry *e = m->ro_fh[i];
      m->ro_fh[i] = e->next;
      free(e);
    }
  }
  free(m->mountpoint);
  free(m);
}

static void finalize_mount(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  unref_mount(data);
}

static void finalize_tsfn(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  unref_mount(data);
}

/**
 * mount(mountpoint, fuseArgs: string[], config, handler) → handle. Events reach `handler`:
 *   (0, id, op, path, path2, fh, a, b, c, owner, data, x, y)  a request to answer with reply()
 *   (1, id)             the kernel interrupted request `id`
 *   (2, 0, errno)       fuse_mount finished (0 = mounted)
 *   (3, token, count)   an invalidate() batch finished
 *   (4, 0, status)      unmount finished (0, or -EBUSY when the mount is still in use)
 */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "mount(mountpoint, args, config, handler)");
    return NULL;
  }
  size_t mp_len = 0;
  NAPI_OK(napi_get_value_string_utf8(env, argv[0], NULL, 0, &mp_len));
  struct mount *m = calloc(1, sizeof(*m));
  if (!m) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  m->mountpoint = malloc(mp_len + 1);
  napi_get_value_string_utf8(env, argv[0], m->mountpoint, mp_len + 1, &mp_len);
  m->attr_timeout = obj_num(env, argv[2], "attrTimeout", 60);
  m->entry_timeout = obj_num(env, argv[2], "entryTimeout", 60);
  m->max_write = (unsigned)obj_num(env, argv[2], "maxWrite", 1 << 20);
  m->max_threads = (unsigned)obj_num(env, argv[2], "maxThreads", 64);
  m->kernel_cache = obj_num(env, argv[2], "kernelCache", 1) != 0;
  m->kernel_locks = obj_num(env, argv[2], "kernelLocks", 1) != 0;
  m->unmount_timeout_ms = (int)obj_num(env, argv[2], "unmountTimeoutMs", 10000);
  pthread_mutex_init(&m->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&m->state_cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&m->iq_mu, NULL);
  pthread_cond_init(&m->iq_cv, NULL);

  // fuse_new(argv): "aether" then the caller's options (e.g. -o fsname=...,default_permissions).
  uint32_t nargs = 0;
  NAPI_OK(napi_get_array_length(env, argv[1], &nargs));
  char **fargv = calloc(nargs + 2, sizeof(char *));
  fargv[0] = strdup("aether");
  for (uint32_t i = 0; i < nargs; i++) {
    napi_value s;
    size_t len = 0;
    napi_get_element(env, argv[1], i, &s);
    napi_get_value_string_utf8(env, s, NULL, 0, &len);
    fargv[i + 1] = malloc(len + 1);
    napi_get_value_string_utf8(env, s, fargv[i + 1], len + 1, &len);
  }
  struct fuse_args args = FUSE_ARGS_INIT((int)nargs + 1, fargv);
  struct fuse_operations ops = make_ops(m->kernel_locks);
  m->fuse = fuse_new(&args, &ops, sizeof(ops), m);
  fuse_opt_free_args(&args);
  for (uint32_t i = 0; i < nargs + 1; i++) free(fargv[i]);
  free(fargv);
  if (!m->fuse) {
    free(m->mountpoint);
    free(m);
    napi_throw_error(env, "AETHER_FUSE3_ARGS", "fuse_new failed (bad options?)");
    return NULL;
  }

  napi_value name;
  napi_create_string_utf8(env, "aether-fuse3", NAPI_AUTO_LENGTH, &name);
  m->refs = 2;
  if (napi_create_threadsafe_function(env, argv[3], NULL, name, 0, 1, m, finalize_tsfn, m, call_js, &m->tsfn) != napi_ok) {
    fuse_destroy(m->fuse);
    free(m->mountpoint);
    free(m);
    napi_throw_error(env, NULL, "napi_create_threadsafe_function failed");
    return NULL;
  }
  if (pthread_create(&m->inval_thread, NULL, inval_main, m) == 0) m->inval_started = 1;
  if (pthread_create(&m->loop_thread, NULL, loop_main, m) != 0) {
    napi_throw_error(env, NULL, "could not start the FUSE loop thread");
    return NULL;
  }
  m->loop_started = 1;
  napi_value handle;
  NAPI_OK(napi_create_external(env, m, finalize_mount, NULL, &handle));
  return handle;
}

/** invalidate(handle, token, paths[]): queue kernel cache invalidation; event 3 reports completion. */
static napi_value js_invalidate(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct mount *m = get_mount(env, argv[0]);
  if (!m) return NULL;
  uint32_t n = 0;
  NAPI_OK(napi_get_array_length(env, argv[2], &n));
  struct inval_job *j = calloc(1, sizeof(*j));
  j->token = (uint32_t)get_num(env, argv[1], 0);
  j->paths = calloc(n ? n : 1, sizeof(char *));
  for (uint32_t i = 0; i < n; i++) {
    napi_value s;
    size_t len = 0;
    napi_get_element(env, argv[2], i, &s);
    if (napi_get_value_string_utf8(env, s, NULL, 0, &len) != napi_ok) continue;
    j->paths[j->count] = malloc(len + 1);
    napi_get_value_string_utf8(env, s, j->paths[j->count], len + 1, &len);
    j->count++;
  }
  pthread_mutex_lock(&m->iq_mu);
  int accepted = m->inval_started && !m->iq_stop;
  if (accepted) {
    if (m->iq_tail) m->iq_tail->next = j;
    else m->iq_head = j;
    m->iq_tail = j;
    pthread_cond_signal(&m->iq_cv);
  }
  pthread_mutex_unlock(&m->iq_mu);
  if (!accepted) free_job(j);
  napi_value out;
  napi_get_boolean(env, accepted, &out);
  return out;
}

/** unmount(handle): start the teardown thread; event 4 reports completion. */
static napi_value js_unmount(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct mount *m = get_mount(env, argv[0]);
  if (!m) return NULL;
  pthread_mutex_lock(&m->mu);
  int already = m->stopping;
  m->stopping = 1;
  pthread_mutex_unlock(&m->mu);
  if (already) return NULL;
  pthread_t t;
  if (pthread_create(&t, NULL, teardown_main, m) != 0) {
    napi_throw_error(env, NULL, "could not start the unmount thread");
    return NULL;
  }
  pthread_detach(t);
  return NULL;
}

/**
 * release(handle, keepAlive=false): stop delivering events. With a stopped loop the thread-safe
 * function is released; otherwise (a mount still busy after a lazy detach) it is only unref'd so
 * the process may exit, and late requests keep getting answers (EIO once JS is gone).
 */
static napi_value js_release(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct mount *m = get_mount(env, argv[0]);
  if (!m) return NULL;
  pthread_mutex_lock(&m->mu);
  int done = m->loop_done || !m->loop_started;
  int released = m->tsfn_released;
  if (done && !released) m->tsfn_released = 1;
  pthread_mutex_unlock(&m->mu);
  if (released) return NULL;
  if (done && m->fuse == NULL) napi_release_threadsafe_function(m->tsfn, napi_tsfn_release);
  else napi_unref_threadsafe_function(env, m->tsfn);
  return NULL;
}

static napi_value init_module(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"mount", NULL, js_mount, NULL, NULL, NULL, napi_default, NULL},
      {"reply", NULL, js_reply, NULL, NULL, NULL, napi_default, NULL},
      {"invalidate", NULL, js_invalidate, NULL, NULL, NULL, napi_default, NULL},
      {"unmount", NULL, js_unmount, NULL, NULL, NULL, napi_default, NULL},
      {"release", NULL, js_release, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  napi_value ops, events, v;
  napi_create_object(env, &ops);
  for (int i = 1; i < OP_COUNT; i++) {
    napi_create_int32(env, i, &v);
    napi_set_named_property(env, ops, OP_NAMES[i], v);
  }
  napi_set_named_property(env, exports, "ops", ops);
  napi_create_object(env, &events);
  const char *ev_names[] = {"request", "interrupt", "mounted", "invalidated", "stopped"};
  for (int i = 0; i < 5; i++) {
    napi_create_int32(env, i, &v);
    napi_set_named_property(env, events, ev_names[i], v);
  }
  napi_set_named_property(env, exports, "events", events);
  napi_create_string_utf8(env, fuse_pkgversion(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, exports, "libfuseVersion", v);
  napi_create_int32(env, FUSE_USE_VERSION, &v);
  napi_set_named_property(env, exports, "fuseUseVersion", v);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init_module)
