// Test fixtures for the git-backed gateway routes: real git repositories in temp dirs (a bare
// "remote" plus a work clone to commit from), and a way to put files into a session tree directly
// through the gateway core (independent of the filesystem routes).
import { execFile, spawn } from 'node:child_process';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { makeTempDir } from './temp-dir.js';
import type { RunningGateway } from '../../src/gateway/server.js';
import type { TestGateway } from './start-gateway.js';
import { S_IFLNK, S_IFREG } from '../../src/gateway/store/tree-store.js';
import { sha256 } from '../../src/shared/digest.js';

const run = promisify(execFile);

/** Deterministic, isolated git environment for fixtures. */
const ENV: NodeJS.ProcessEnv = (() => {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
  return {
    ...env,
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Fixture Author',
    GIT_AUTHOR_EMAIL: 'fixture@example.com',
    GIT_COMMITTER_NAME: 'Fixture Author',
    GIT_COMMITTER_EMAIL: 'fixture@example.com',
    GIT_TERMINAL_PROMPT: '0',
  };
})();

/** Run git; resolves stdout as a string. */
export async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('git', ['-c', 'core.autocrlf=false', '-c', 'init.defaultBranch=main', '-c', 'protocol.file.allow=always', ...args], {
    cwd,
    env: ENV,
    maxBuffer: 256 * 1024 * 1024,
    encoding: 'utf8',
  });
  return stdout;
}

/** Run git; resolves stdout as bytes. */
export async function gitBytes(cwd: string, ...args: string[]): Promise<Buffer> {
  const { stdout } = await run('git', ['-c', 'core.autocrlf=false', ...args], { cwd, env: ENV, maxBuffer: 256 * 1024 * 1024, encoding: 'buffer' });
  return stdout;
}

/** A file in a fixture: plain text/bytes, an executable, or a symlink. */
export type FixtureFile = string | Buffer | { data: string | Buffer; exec: true } | { symlink: string };

export interface Remote {
  /** Path of the bare remote repository. */
  bare: string;
  /** file:// URL of it. */
  url: string;
  /** Work tree used to make commits. */
  work: string;
  /** Write/delete files in the work tree, commit them on `branch` and push; returns the commit id. */
  commit(files: Record<string, FixtureFile | null>, message?: string, branch?: string): Promise<string>;
  cleanup(): Promise<void>;
}

async function writeFixture(root: string, rel: string, f: FixtureFile | null): Promise<void> {
  const p = path.join(root, rel);
  if (f === null) {
    await fs.rm(p, { recursive: true, force: true });
    return;
  }
  await fs.mkdir(path.dirname(p), { recursive: true });
  await fs.rm(p, { force: true });
  if (typeof f === 'string' || Buffer.isBuffer(f)) await fs.writeFile(p, f);
  else if ('symlink' in f) await fs.symlink(f.symlink, p);
  else {
    await fs.writeFile(p, f.data);
    await fs.chmod(p, 0o755);
  }
}

/** A bare remote with `files` committed on main (plus a work clone to add commits). */
export async function makeRemote(files: Record<string, FixtureFile>, message = 'initial import'): Promise<Remote> {
  const { dir, cleanup } = await makeTempDir('aether-remote-');
  const bare = path.join(dir, 'remote.git');
  const work = path.join(dir, 'work');
  await git(dir, 'init', '--bare', '--quiet', '-b', 'main', bare);
  await git(dir, 'init', '--quiet', '-b', 'main', work);
  await git(work, 'remote', 'add', 'origin', bare);
  const remote: Remote = {
    bare,
    url: 'file://' + bare,
    work,
    async commit(fs2, msg = 'update', branch = 'main') {
      const current = (await git(work, 'rev-parse', '--abbrev-ref', 'HEAD').catch(() => 'main\n')).trim();
      if (current !== branch) {
        const exists = await git(work, 'rev-parse', '--verify', '--quiet', `refs/heads/${branch}`).then(() => true, () => false);
        await git(work, 'checkout', '--quiet', ...(exists ? [branch] : ['-b', branch]));
      }
      for (const [rel, f] of Object.entries(fs2)) await writeFixture(work, rel, f);
      await git(work, 'add', '-A');
      await git(work, 'commit', '--quiet', '--allow-empty', '-m', msg);
      await git(work, 'push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`);
      return (await git(work, 'rev-parse', 'HEAD')).trim();
    },
    cleanup,
  };
  await remote.commit(files, message);
  return remote;
}

/** Expected import counts for a commit: blobs (files + symlinks) and their total size. */
export async function treeTotals(repo: string, rev: string): Promise<{ files: number; bytes: number }> {
  const out = await git(repo, 'ls-tree', '-r', '-l', '--full-tree', rev);
  let files = 0;
  let bytes = 0;
  for (const line of out.split('\n')) {
    const m = /^(\d+) (\w+) [0-9a-f]+\s+(\S+)\t/.exec(line);
    if (!m || m[2] !== 'blob') continue;
    files++;
    bytes += Number(m[3]);
  }
  return { files, bytes };
}

/** A session file: content (optionally executable) or a symlink; null deletes. */
export type SessionFile = string | Buffer | { data: string | Buffer; exec: true } | { symlink: string } | null;

/**
 * Put files into a session's tree through the gateway core (CAS + one atomic apply), creating
 * parent directories. Stands in for the filesystem routes in tests of other families.
 */
export async function writeSessionFiles(gw: RunningGateway, sessionId: string, files: Record<string, SessionFile>): Promise<void> {
  const core = gw.core;
  const row = core.sessions.reload(sessionId);
  type Content = { s: number; h: string; x: Array<{ h: string; o: number; n: number }> };
  const entries = Object.entries(files);
  const prepared: Array<[string, SessionFile, Content | undefined]> = new Array(entries.length);
  let next = 0;
  // Store content a few files at a time (each blob write is fsynced).
  const worker = async () => {
    while (next < entries.length) {
      const i = next++;
      const [p, f] = entries[i]!;
      if (f === null || (typeof f === 'object' && !Buffer.isBuffer(f) && 'symlink' in f)) {
        prepared[i] = [p, f, undefined];
        continue;
      }
      const data = Buffer.from(typeof f === 'string' || Buffer.isBuffer(f) ? f : f.data);
      prepared[i] = [p, f, { s: data.length, h: sha256(data), x: await core.content.putContent(row.tenant_id, data) }];
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  await core.sessions.withLock(sessionId, async () => {
    core.sessions.apply(
      sessionId,
      (ed) => {
        const now = core.clock.now();
        for (const [p, f, c] of prepared) {
          if (f === null) {
            ed.remove(p);
            continue;
          }
          const parent = p.slice(0, p.lastIndexOf('/')) || '/';
          if (parent !== '/') ed.mkdirs(parent, undefined, now);
          if (typeof f === 'object' && !Buffer.isBuffer(f) && 'symlink' in f) ed.set(p, { t: 'l', m: S_IFLNK | 0o777, mt: now, tg: f.symlink });
          else {
            const exec = typeof f === 'object' && !Buffer.isBuffer(f) && 'exec' in f;
            ed.set(p, { t: 'f', m: S_IFREG | (exec ? 0o755 : 0o644), mt: now, ...c! });
          }
        }
      },
      { mutations: prepared.length },
    );
  });
}

/** Read a session file's bytes (or symlink target) straight from the tree; undefined if absent. */
export async function readSessionFile(gw: RunningGateway, sessionId: string, p: string): Promise<{ data?: Buffer; mode: number; target?: string } | undefined> {
  const core = gw.core;
  const row = core.sessions.reload(sessionId);
  const e = core.trees.lookup(row.root, p);
  if (!e) return undefined;
  if (e.t === 'l') return { mode: e.m, target: e.tg };
  if (e.t !== 'f') return { mode: e.m };
  return { mode: e.m, data: await core.content.readAll(e.x ?? []) };
}

/**
 * A smart-HTTP git server over `git http-backend` serving the repositories under `root`, requiring
 * HTTP Basic auth as `user`/`password` (pushes enabled). `authHeaders` records what clients sent.
 */
export async function startGitHttpServer(root: string, user: string, password: string): Promise<{ url: string; authHeaders: string[]; close(): Promise<void> }> {
  const expected = 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
  const authHeaders: string[] = [];
  const server = http.createServer((req, res) => {
    const auth = req.headers.authorization;
    if (auth) authHeaders.push(auth);
    if (auth !== expected) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' });
      res.end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://git');
    const child = spawn('git', ['http-backend'], {
      env: {
        ...ENV,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: String(req.headers['content-type'] ?? ''),
        HTTP_CONTENT_ENCODING: String(req.headers['content-encoding'] ?? ''),
        GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
        REMOTE_USER: user,
        REMOTE_ADDR: '127.0.0.1',
      },
    });
    req.pipe(child.stdin);
    child.stdin.on('error', () => undefined);
    let head: Buffer = Buffer.alloc(0);
    let started = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (started) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const i = line.indexOf(':');
        const k = line.slice(0, i).trim();
        const v = line.slice(i + 1).trim();
        if (k.toLowerCase() === 'status') status = Number(v.split(' ')[0]);
        else headers[k] = v;
      }
      res.writeHead(status, headers);
      started = true;
      res.write(head.subarray(end + 4));
    });
    child.on('close', () => {
      if (!started) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    authHeaders,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Poll a source job until it SUCCEEDED or FAILED (30 s bound); returns the job. */
export async function waitJob(t: { call: TestGateway['call'] }, sourceId: string, jobId: string, token?: string): Promise<any> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await t.call('GET', `/v1/sources/${sourceId}/jobs/${jobId}`, undefined, token);
    if (r.status !== 200) throw new Error(`GET job ${jobId} → ${r.status} ${JSON.stringify(r.body)}`);
    if (r.body.state === 'UNDERLAY_IMPORT_JOB_STATE_SUCCEEDED' || r.body.state === 'UNDERLAY_IMPORT_JOB_STATE_FAILED') return r.body;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${r.body.state}`);
    await new Promise((r2) => setTimeout(r2, 50));
  }
}
