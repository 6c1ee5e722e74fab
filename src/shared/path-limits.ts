// Limits on session paths, shared by the gateway (validation) and the mount core (refusing a name
// up front with ENAMETOOLONG rather than losing its bytes when the upload is refused at close).
// Linux itself has no limit on the length of a path inside a filesystem (PATH_MAX, 4,096 bytes,
// only bounds one syscall argument; pjdfstest builds longer paths below a deep working directory),
// only NAME_MAX (255 bytes) per component. A session path still needs some bound for the gateway's
// rows and requests: 32 KiB, eight times PATH_MAX, which every route carries (paths travel in JSON
// bodies and, percent-encoded, in a few query strings: see MAX_HEADER_BYTES).
// Callers: src/gateway/http/validate.ts, src/gateway/server.ts, src/fs/session-fs.ts, tests.

/** Largest component (file or directory name), bytes: Linux NAME_MAX. */
export const NAME_MAX_BYTES = 255;

/** Largest whole session path ("/a/b/…"), bytes. */
export const MAX_SESSION_PATH_BYTES = 32 * 1024;

/** Request-line + header budget of the gateway's HTTP server: a fully percent-encoded longest path plus ordinary headers. */
export const MAX_HEADER_BYTES = 3 * MAX_SESSION_PATH_BYTES + 16 * 1024;
