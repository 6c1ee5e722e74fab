// Async git subprocesses for the gateway. Every git invocation in the gateway goes through here:
// `runGit()` for one-shot commands (stdout collected as Buffers, rejection with stderr on a
// non-zero exit) and `spawnGit()` for long-lived streaming processes (cat-file --batch,
// fast-import). Never execSync/spawnSync: the gateway is a server and must not block its loop.
//
// Invariants:
// - git runs with a sanitized environment: inherited GIT_* variables (GIT_DIR, GIT_INDEX_FILE, …
//   which a surrounding hook or test harness may set) are dropped, user/system config is ignored
//   (GIT_CONFIG_GLOBAL=/dev/null, GIT_CONFIG_NOSYSTEM=1), prompts are disabled
//   (GIT_TERMINAL_PROMPT=0, ssh BatchMode) and `core.autocrlf=false` keeps bytes exact.
// - Dangerous transports (`ext::`, `fd::`) are disabled; automatic gc never forks a background
//   process that could outlive the request.
// - Secrets never appear on a command line or in an error message: credentials travel in the
//   child's environment only (see `credentialEnv`) and `redact()` scrubs URLs' userinfo.
// This module is the one place in the gateway that reads `process.env` (to give git a PATH/HOME).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

/** Options of one git invocation. */
export interface GitRunOptions {
  /** Working directory (a bare mirror, usually). */
  cwd?: string;
  /** Bytes written to stdin, then stdin is closed. */
  input?: Buffer | string;
  /** Kills the process (SIGTERM) when aborted. */
  signal?: AbortSignal;
  /** Extra environment (credentials, author/committer identity). Never logged. */
  env?: Record<string, string>;
  /** Extra `-c key=value` settings placed before the subcommand. */
  config?: string[];
  /** Strings to scrub from error messages (tokens, URLs with credentials). */
  secrets?: string[];
}

/** A git command that exited non-zero (or could not start). `stderr` is already redacted. */
export class GitError extends Error {
  readonly code = 'AETHER_GIT_FAILED';
  constructor(
    /** The subcommand, e.g. "fetch". */
    readonly subcommand: string,
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly stdout: Buffer = Buffer.alloc(0),
    options?: { cause?: unknown },
  ) {
    super(`git ${subcommand} failed${exitCode === null ? '' : ` (exit ${exitCode})`}: ${firstLines(stderr) || 'no error output'}`, options);
    this.name = 'GitError';
  }
}

/** Base `-c` settings for every git command. */
const BASE_CONFIG = [
  'core.autocrlf=false',
  'core.safecrlf=false',
  'core.quotePath=false',
  'gc.auto=0',
  'maintenance.auto=false',
  'protocol.ext.allow=never',
  'protocol.fd.allow=never',
  'init.defaultBranch=main',
  'advice.detachedHead=false',
];

/** Environment variables kept from the parent even though they start with GIT_ (transport tuning). */
const KEEP_GIT_VARS = new Set(['GIT_SSH', 'GIT_SSH_COMMAND', 'GIT_SSL_CAINFO', 'GIT_SSL_CAPATH', 'GIT_PROXY_COMMAND', 'GIT_EXEC_PATH']);

let baseEnvCache: Record<string, string> | undefined;

/** The sanitized environment every git child gets (plus `extra`). */
export function gitEnv(extra: Record<string, string> = {}): Record<string, string> {
  if (!baseEnvCache) {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (v === undefined) continue;
      if (k.startsWith('GIT_') && !KEEP_GIT_VARS.has(k)) continue;
      env[k] = v;
    }
    env.GIT_TERMINAL_PROMPT = '0';
    env.GIT_CONFIG_NOSYSTEM = '1';
    env.GIT_CONFIG_GLOBAL = '/dev/null';
    env.GCM_INTERACTIVE = 'never';
    env.LC_ALL = 'C';
    if (!env.GIT_SSH_COMMAND && !env.GIT_SSH) env.GIT_SSH_COMMAND = 'ssh -o BatchMode=yes';
    baseEnvCache = env;
  }
  return { ...baseEnvCache, ...extra };
}

/** Full argv for git: base config, extra config, then the subcommand and its arguments. */
function argv(args: string[], config: string[] = []): string[] {
  const out: string[] = [];
  for (const c of [...BASE_CONFIG, ...config]) out.push('-c', c);
  return [...out, ...args];
}

/** Replace URL userinfo and every listed secret with "***". */
export function redact(text: string, secrets: string[] = []): string {
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1***@');
  for (const s of secrets) if (s) out = out.split(s).join('***');
  return out;
}

function firstLines(s: string, max = 6): string {
  const lines = s.split('\n').map((l) => l.trimEnd()).filter((l) => l.length > 0);
  return lines.slice(0, max).join('; ');
}

/** Start a long-lived git process (stdin/stdout/stderr are pipes). The caller owns its lifecycle. */
export function spawnGit(args: string[], opts: GitRunOptions = {}): ChildProcessWithoutNullStreams {
  return spawn('git', argv(args, opts.config), {
    cwd: opts.cwd,
    env: gitEnv(opts.env),
    stdio: ['pipe', 'pipe', 'pipe'],
    signal: opts.signal,
    killSignal: 'SIGTERM',
  });
}

/** Result of a successful git command. */
export interface GitResult {
  stdout: Buffer;
  stderr: string;
}

/**
 * Run git to completion. Resolves with stdout (Buffer) and stderr; rejects with GitError on a
 * non-zero exit, on a spawn failure or when `signal` aborts.
 */
export function runGit(args: string[], opts: GitRunOptions = {}): Promise<GitResult> {
  const sub = args.find((a) => !a.startsWith('-')) ?? 'git';
  return new Promise<GitResult>((resolve, reject) => {
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawnGit(args, opts);
    } catch (err) {
      reject(new GitError(sub, null, String((err as Error).message), undefined, { cause: err }));
      return;
    }
    const out: Buffer[] = [];
    const errs: Buffer[] = [];
    let settled = false;
    const fail = (e: GitError) => {
      if (!settled) {
        settled = true;
        reject(e);
      }
    };
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => errs.push(b));
    child.on('error', (err) => {
      const aborted = (err as Error).name === 'AbortError';
      fail(new GitError(sub, null, aborted ? 'cancelled' : redact(String((err as Error).message), opts.secrets), undefined, { cause: err }));
    });
    child.on('close', (code) => {
      if (settled) return;
      const stderr = redact(Buffer.concat(errs).toString('utf8'), opts.secrets);
      const stdout = Buffer.concat(out);
      if (code === 0) {
        settled = true;
        resolve({ stdout, stderr });
      } else fail(new GitError(sub, code, stderr, stdout));
    });
    child.stdin.on('error', () => {
      /* EPIPE when git exits before reading all input: the exit code tells the story */
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** Write to a child's stdin honouring backpressure (resolves once the chunk is buffered). */
export function writeAll(stream: NodeJS.WritableStream, data: Buffer | string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const ok = stream.write(data, (err) => {
      if (err) reject(err);
    });
    if (ok) resolve();
    else {
      const onDrain = () => {
        cleanup();
        resolve();
      };
      const onError = (err: Error) => {
        cleanup();
        reject(err);
      };
      const onClose = () => {
        cleanup();
        reject(new Error('stream closed'));
      };
      const cleanup = () => {
        stream.removeListener('drain', onDrain);
        stream.removeListener('error', onError);
        stream.removeListener('close', onClose);
      };
      stream.once('drain', onDrain);
      stream.once('error', onError);
      stream.once('close', onClose);
    }
  });
}

/**
 * Environment that makes git answer an HTTP(S) credential prompt with `username`/`password`
 * without either ever touching a command line: a config-only credential helper echoes two
 * variables of the child's own environment.
 */
export function credentialEnv(username: string, password: string): { env: Record<string, string>; config: string[] } {
  return {
    env: { AETHER_GIT_USERNAME: username, AETHER_GIT_PASSWORD: password },
    config: [
      'credential.helper=',
      'credential.helper=!f() { test "$1" = get || exit 0; printf "username=%s\\npassword=%s\\n" "$AETHER_GIT_USERNAME" "$AETHER_GIT_PASSWORD"; }; f',
    ],
  };
}
