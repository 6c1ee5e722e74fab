// Shared harness for in-process CLI tests: a real gateway on 127.0.0.1:0, a temp AETHER_HOME, and
// `run(argv)` calling main(argv, io) with AETHER_URL/AETHER_TOKEN pointing at that gateway.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { main, type MainDeps } from '../../../src/cli/main.js';
import { captureIO, type CapturedIO, type CaptureOptions } from '../../helpers/capture-io.js';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';
import { makeTempDir } from '../../helpers/temp-dir.js';

export interface RunResult {
  code: number;
  out: string;
  err: string;
  io: CapturedIO;
  json<T = any>(): T;
}

export interface CliHarness {
  gw: TestGateway;
  home: string;
  /** Environment every run gets (gateway URL/token, AETHER_HOME). */
  env: Record<string, string>;
  run(argv: string[], opts?: CaptureOptions & { deps?: MainDeps }): Promise<RunResult>;
  /** Start a run without awaiting it (streaming commands); returns the io and the exit promise. */
  start(argv: string[], opts?: CaptureOptions): { io: CapturedIO; done: Promise<number> };
  /** A fresh session id (via the CLI). */
  newSession(...extra: string[]): Promise<string>;
  /** Write files into a session through the batch route. */
  writeFiles(sessionId: string, files: Record<string, string>): Promise<void>;
  close(): Promise<void>;
}

export async function runMain(argv: string[], opts: CaptureOptions & { deps?: MainDeps } = {}): Promise<RunResult> {
  const io = captureIO(opts);
  const code = await main(argv, io, opts.deps);
  return { code, out: io.out(), err: io.err(), io, json: () => io.json() };
}

export async function startCliHarness(): Promise<CliHarness> {
  const gw = await startTestGateway();
  const home = await makeTempDir('aether-cli-home-');
  const env = { AETHER_URL: gw.url, AETHER_TOKEN: gw.token, AETHER_HOME: home.dir };
  const h: CliHarness = {
    gw,
    home: home.dir,
    env,
    run: (argv, opts = {}) => runMain(argv, { ...opts, env: { ...env, ...(opts.env ?? {}) } }),
    start: (argv, opts = {}) => {
      const io = captureIO({ ...opts, env: { ...env, ...(opts.env ?? {}) } });
      return { io, done: main(argv, io) };
    },
    newSession: async (...extra) => {
      const r = await h.run(['session', 'create', '--json', ...extra]);
      if (r.code !== 0) throw new Error(`session create failed (${r.code}): ${r.err}`);
      return r.json().id as string;
    },
    writeFiles: async (sessionId, files) => {
      const operations = Object.entries(files).map(([p, content]) => ({ write: { path: p, content: Buffer.from(content).toString('base64') } }));
      const res = await gw.call('POST', `/v1/sessions/${sessionId}/batch`, { operations });
      if (res.status !== 200) throw new Error(`batch failed: ${res.status} ${JSON.stringify(res.body)}`);
    },
    close: async () => {
      await gw.close();
      await home.cleanup();
    },
  };
  return h;
}

const execFileP = promisify(execFile);

/** A bare git repository with one commit on `main` (files given), as a local-path remote. */
export async function makeGitRemote(files: Record<string, string>): Promise<{ bare: string; cleanup: () => Promise<void> }> {
  const t = await makeTempDir('aether-cli-git-');
  const env = { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@example.com' };
  const git = (cwd: string, ...args: string[]) => execFileP('git', ['-c', 'init.defaultBranch=main', ...args], { cwd, env });
  const bare = path.join(t.dir, 'remote.git');
  const work = path.join(t.dir, 'work');
  await git(t.dir, 'init', '--bare', bare);
  await git(t.dir, 'init', work);
  for (const [p, c] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(work, p)), { recursive: true });
    await fs.writeFile(path.join(work, p), c);
  }
  await git(work, 'add', '-A');
  await git(work, 'commit', '-m', 'initial');
  await git(work, 'push', bare, 'HEAD:refs/heads/main');
  return { bare, cleanup: t.cleanup };
}
