// Pure validation of the git-facing strings a client sends: branch/ref names (git's
// check-ref-format rules), remote URLs (which transports the gateway agrees to talk to), and
// commit identities. Each check returns a reason string, or undefined when the value is fine, so
// routes can turn it into an INVALID_ARGUMENT naming the field.

/** A full 40-hex git object id. */
export const SHA1_RE = /^[0-9a-f]{40}$/;

/**
 * Why `name` is not a valid ref name under `git check-ref-format` (one-level names allowed, as with
 * `--branch`), or undefined when it is valid.
 */
export function refFormatProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (Buffer.byteLength(name) > 1024) return 'is longer than 1024 bytes';
  if (name === '@') return 'must not be "@"';
  if (name.startsWith('-')) return 'must not start with "-"';
  if (name.startsWith('/') || name.endsWith('/')) return 'must not start or end with "/"';
  if (name.includes('//')) return 'must not contain "//"';
  if (name.endsWith('.')) return 'must not end with "."';
  if (name.includes('..')) return 'must not contain ".."';
  if (name.includes('@{')) return 'must not contain "@{"';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(name)) return 'must not contain spaces, control characters or any of ~ ^ : ? * [ \\';
  for (const part of name.split('/')) {
    if (part.startsWith('.')) return 'must not have a component starting with "."';
    if (part.endsWith('.lock')) return 'must not have a component ending with ".lock"';
  }
  return undefined;
}

/**
 * Normalize a client branch name to the short form under refs/heads/ ("refs/heads/x" → "x").
 * Returns the short name or a reason it is invalid.
 */
export function parseBranchName(name: string): { branch: string } | { problem: string } {
  const short = name.startsWith('refs/heads/') ? name.slice('refs/heads/'.length) : name;
  const problem = refFormatProblem(short) ?? (short === 'HEAD' ? 'must not be "HEAD"' : undefined);
  return problem ? { problem } : { branch: short };
}

/** Why `ref` cannot name something to import (a branch, a tag, a full ref or a commit id). */
export function importRefProblem(ref: string): string | undefined {
  if (SHA1_RE.test(ref)) return undefined;
  if (ref === 'HEAD') return undefined;
  return refFormatProblem(ref);
}

/**
 * Why `url` is not an acceptable git remote, or undefined. Accepted: absolute local paths,
 * file://, http(s)://, ssh://, git://, and scp-like "user@host:path". Rejected: relative paths,
 * option-looking strings, `ext::`/`fd::` and other transport helpers, whitespace and controls.
 */
export function remoteUrlProblem(url: string): string | undefined {
  if (url.length === 0) return 'is required';
  if (url.length > 4096) return 'is longer than 4096 characters';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(url)) return 'must not contain control characters';
  if (url.startsWith('-')) return 'must not start with "-"';
  if (url.startsWith('/')) return undefined;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  if (scheme) {
    const s = scheme[1]!.toLowerCase();
    if (!['file', 'http', 'https', 'ssh', 'git', 'git+ssh', 'ssh+git'].includes(s)) return `uses the unsupported scheme "${s}"`;
    if (/\s/.test(url)) return 'must not contain whitespace';
    if (s === 'file' && !url.slice('file://'.length).startsWith('/')) return 'must be an absolute file:// URL';
    return undefined;
  }
  if (url.includes('::')) return 'must not use a git transport helper ("<transport>::<address>")';
  if (/^(?:[A-Za-z0-9._~-]+@)?[A-Za-z0-9.-]+:[^\s]+$/.test(url) && !/^[A-Za-z]:[\\/]/.test(url)) return undefined;
  return 'must be an absolute path, a file://, http(s)://, ssh:// or git:// URL, or user@host:path';
}

/** Why `s` cannot be an author name/email in a commit header (git forbids <, > and newlines). */
export function identityProblem(s: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (/[<>\x00\n\r]/.test(s)) return 'must not contain "<", ">" or line breaks';
  if (Buffer.byteLength(s) > 1024) return 'is longer than 1024 bytes';
  return undefined;
}
