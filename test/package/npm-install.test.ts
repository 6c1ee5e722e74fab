// The npm package as a user gets it (issue 16): pack a clean copy of the project (tracked and
// new files only: no dist/, native/build/, node_modules/ or local state), check the tarball's
// file list, install it globally into a temporary prefix with npm's default install-script policy
// (registry only), then — from the installed `aether` alone — run doctor, start the embedded
// gateway, mount a session, and check that the mount runs on the libfuse3 binding and that a
// flock held through the mount is refused to an HTTP client. Slow (packing builds; installing
// may compile better-sqlite3): ~2–3 minutes. Teardown unmounts, stops the gateway and removes it all.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, detach, hasFuse } from '../helpers/processes.js';

const run = promisify(execFile);
const hasFuse3Lib = ['/lib/x86_64-linux-gnu/libfuse3.so.3', '/usr/lib/x86_64-linux-gnu/libfuse3.so.3', '/usr/lib64/libfuse3.so.3'].some((p) => fs.existsSync(p));
const hasFlock = fs.existsSync('/usr/bin/flock') || fs.existsSync('/bin/flock');

/** The environment for npm and the installed CLI: ours minus what `npm test` injected (npm_*). */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'AETHER_URL' && k !== 'AETHER_TOKEN' && k !== 'AETHER_FUSE_BINDING') env[k] = v;
  // node-gyp must not try to download Node headers (we are offline but for the registry): point
  // it at this Node's own, as native/build.mjs does.
  const nodedir = [path.resolve(path.dirname(process.execPath), '..'), process.config.variables.node_prefix as string | undefined].find(
    (d) => d && fs.existsSync(path.join(d, 'include', 'node', 'node_api.h')),
  );
  if (nodedir) env.npm_config_nodedir = nodedir;
  return { ...env, NO_COLOR: '1', CI: 'true', ...extra };
}

/** Files of the project a fresh clone would have (tracked + new, not ignored), from the working tree. */
async function projectFiles(): Promise<string[]> {
  try {
    const { stdout } = await run('git', ['-C', ROOT, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], { maxBuffer: 64 * 1024 * 1024 });
    return stdout.split('\0').filter((f) => f && fs.existsSync(path.join(ROOT, f)));
  } catch {
    const out: string[] = [];
    const skip = new Set(['node_modules', 'dist', '.git', 'coverage', '.aether-test']);
    const walk = (rel: string) => {
      for (const e of fs.readdirSync(path.join(ROOT, rel), { withFileTypes: true })) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (skip.has(e.name) || r === 'native/build' || e.name.endsWith('.log')) continue;
        if (e.isDirectory()) walk(r);
        else out.push(r);
      }
    };
    walk('');
    return out;
  }
}

describe.skipIf(!hasFuse || !hasFuse3Lib || !hasFlock)('the npm package, installed globally', () => {
  let tmp: string;
  let prefix: string;
  let aetherBin: string;
  let env: NodeJS.ProcessEnv;
  let packedFiles: string[] = [];
  const mounted: string[] = [];
  let holder: ChildProcess | undefined;

  const aether = async (args: string[], timeout = 90_000) => {
    try {
      const r = await run(aetherBin, args, { env, cwd: tmp, timeout, maxBuffer: 16 * 1024 * 1024 });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof x.code === 'number' ? x.code : -1, stdout: x.stdout ?? '', stderr: x.stderr ?? String(e) };
    }
  };
  const json = async (args: string[]) => {
    const r = await aether([...args, '--json']);
    if (r.code !== 0) throw new Error(`aether ${args.join(' ')} → ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aether-pack-'));
    prefix = path.join(tmp, 'prefix');
    aetherBin = path.join(prefix, 'bin', 'aether');
    env = cleanEnv({ AETHER_HOME: path.join(tmp, 'home'), PATH: `${path.join(prefix, 'bin')}:${process.env.PATH ?? ''}` });

    // A clean copy: what a fresh clone holds, plus the dependencies the build needs.
    const src = path.join(tmp, 'src');
    for (const f of await projectFiles()) {
      fs.mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, f), path.join(src, f));
    }
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(src, 'node_modules'));
    expect(fs.existsSync(path.join(src, 'dist'))).toBe(false);
    expect(fs.existsSync(path.join(src, 'native', 'build'))).toBe(false);

    // npm pack runs prepack: tsc and the libfuse3 addon, from scratch.
    const packed = await run('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: src, env: cleanEnv({}), timeout: 240_000, maxBuffer: 64 * 1024 * 1024 });
    const at = packed.stdout.startsWith('[') ? 0 : packed.stdout.lastIndexOf('\n[') + 1;
    const info = JSON.parse(packed.stdout.slice(at))[0];
    packedFiles = info.files.map((f: { path: string }) => f.path);
    const tgz = path.join(tmp, info.filename);

    // better-sqlite3's install script (prebuild-install) downloads its prebuilt addon from GitHub,
    // which this test may not reach: serve it the same file from a local mirror directory — the
    // addon `npm ci` put in this project for the same version (the tarball's npm-shrinkwrap.json
    // pins it) and this Node's ABI. Without it the script compiles SQLite (minutes, not wrong).
    const sqliteDir = path.join(ROOT, 'node_modules', 'better-sqlite3');
    const sqliteVersion = JSON.parse(fs.readFileSync(path.join(sqliteDir, 'package.json'), 'utf8')).version;
    const mirror = path.join(tmp, 'prebuilds');
    fs.mkdirSync(mirror);
    await run('tar', ['-czf', path.join(mirror, `better-sqlite3-v${sqliteVersion}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`), '-C', sqliteDir, 'build/Release/better_sqlite3.node']);
    env.npm_config_better_sqlite3_local_prebuilds = mirror; // prebuild-install's documented offline lookup

    // npm's default policy: no --allow-scripts, no --ignore-scripts; the registry for dependencies.
    await run('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--loglevel', 'warn', tgz], { cwd: tmp, env, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
  }, 560_000);

  afterAll(async () => {
    if (holder && holder.exitCode === null) {
      try {
        process.kill(-holder.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (aetherBin && fs.existsSync(aetherBin)) {
      for (const m of mounted) await aether(['unmount', m, '--force'], 30_000);
      await aether(['gateway', 'stop'], 30_000);
    }
    for (const m of mounted) detach(m);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }, 90_000);

  it('packs the whole product and nothing else', () => {
    expect(packedFiles).toEqual(expect.arrayContaining(['package.json', 'npm-shrinkwrap.json', 'bin/aether.js', 'dist/cli/main.js', 'dist/gateway/server.js', 'openapi.yaml', 'native/build/Release/aether_fuse3.node', 'native/src/aether_fuse3.c', 'native/binding.gyp', 'native/build.mjs']));
    const stray = packedFiles.filter((f) => /^(test|bench|scripts|docs|node_modules|\.ci|coverage)\//.test(f) || /\.test\.|\.map$|\.log$|\.tsbuildinfo$|(^|\/)\.aether|admin-token|gateway\.db/.test(f) || (f.startsWith('native/build/') && f !== 'native/build/Release/aether_fuse3.node'));
    expect(stray).toEqual([]);
  });

  it('runs from the installed aether: doctor, the libfuse3 binding, and a flock through the mount refused over HTTP', async () => {
    const installed = path.join(prefix, 'lib', 'node_modules', 'aether');
    expect(fs.existsSync(path.join(installed, 'native', 'build', 'Release', 'aether_fuse3.node'))).toBe(true);

    const doc = await aether(['doctor', '--json']);
    const checks = JSON.parse(doc.stdout).checks as Array<{ name: string; status: string; detail: string }>;
    const byName = Object.fromEntries(checks.map((c) => [c.name, c]));
    expect(byName['fuse-binding'], JSON.stringify(checks)).toMatchObject({ status: 'ok' });
    expect(byName['fuse-binding']!.detail).toContain(installed);
    expect(byName.sqlite, JSON.stringify(checks)).toMatchObject({ status: 'ok' });

    const sess = await json(['session', 'create']);
    expect(sess.id).toMatch(/^sess_/);
    const dir = path.join(tmp, 'work');
    const m = await json(['mount', sess.id, dir]);
    mounted.push(dir);
    expect(m.binding).toBe('aether-fuse3'); // the libfuse3 addon (fuse-native reports 'fuse-native')
    const list = await json(['mounts']);
    expect(list).toEqual([expect.objectContaining({ mountpoint: dir, sessionId: sess.id, binding: 'aether-fuse3' })]);

    const file = path.join(dir, 'lock.txt');
    fs.writeFileSync(file, 'locked by flock(1)\n');
    holder = spawn('flock', ['-o', '-x', file, 'sh', '-c', 'echo locked; exec sleep 120'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('flock(1) did not take the lock within 20 s')), 20_000);
      holder!.stdout!.on('data', (d) => {
        if (String(d).includes('locked')) {
          clearTimeout(timer);
          resolve();
        }
      });
      holder!.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`flock(1) exited with ${code}`));
      });
    });

    // The embedded gateway the installed CLI started: its URL and admin token.
    const state = JSON.parse(fs.readFileSync(path.join(tmp, 'home', 'gateway', 'state.json'), 'utf8'));
    const token = fs.readFileSync(path.join(tmp, 'home', 'gateway', 'data', 'admin-token'), 'utf8').trim();
    const flock = () =>
      fetch(`${state.url}/v1/sessions/${sess.id}:flock`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ path: '/lock.txt', mode: 'POSIX_FLOCK_MODE_EXCLUSIVE', owner: { ownerId: '7', clientId: '4242' }, blocking: false }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as { code?: number; message?: string } }));
    const refused = await flock();
    expect(refused.status, JSON.stringify(refused.body)).toBe(409);
    expect(refused.body.code).toBe(10);

    // Once the holder is gone the lock is free (the kernel reports the last close asynchronously).
    process.kill(-holder.pid!, 'SIGKILL');
    let granted = refused;
    for (let i = 0; i < 100 && granted.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      granted = await flock();
    }
    expect(granted.status, JSON.stringify(granted.body)).toBe(200);

    const u = await aether(['unmount', dir]);
    expect(u.code, u.stderr).toBe(0);
    mounted.length = 0;
  }, 120_000);
});
