import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execSync } from 'node:child_process';
import { createMountEnv, sha, type MountEnv } from '../helpers/mount-env.js';
import { hasFuse, type MountProc } from '../helpers/processes.js';

describe.skipIf(!hasFuse)('real mount: basic file operations', () => {
  let env: MountEnv;
  let sid: string;
  let m: MountProc;
  let dir: string;
  beforeAll(async () => {
    env = await createMountEnv();
    sid = await env.createSession({ test: 'basic' });
    m = await env.mount(sid);
    dir = m.mountpoint;
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('writes, reads, and uploads a file on close', async () => {
    fs.writeFileSync(path.join(dir, 'hello.txt'), 'hello world\n');
    expect(fs.readFileSync(path.join(dir, 'hello.txt'), 'utf8')).toBe('hello world\n');
    const n = await env.node(sid, '/hello.txt');
    expect(n.contentHash).toBe(sha('hello world\n'));
    expect(Number(n.sizeBytes)).toBe(12);
  });

  it('creates directories, lists them, renames and deletes', async () => {
    fs.mkdirSync(path.join(dir, 'a/b/c'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'a/b/c/f.txt'), 'x');
    expect(fs.readdirSync(path.join(dir, 'a/b')).sort()).toEqual(['c']);
    fs.renameSync(path.join(dir, 'a'), path.join(dir, 'z'));
    expect(fs.readFileSync(path.join(dir, 'z/b/c/f.txt'), 'utf8')).toBe('x');
    expect((await env.node(sid, '/z/b/c/f.txt')).contentHash).toBe(sha('x'));
    expect(await env.node(sid, '/a')).toBeUndefined();
    fs.rmSync(path.join(dir, 'z'), { recursive: true });
    expect(fs.existsSync(path.join(dir, 'z'))).toBe(false);
    expect(await env.node(sid, '/z')).toBeUndefined();
  });

  it('handles the editor save pattern, sed -i, symlinks, chmod and truncate', async () => {
    const f = path.join(dir, 'conf.ini');
    fs.writeFileSync(f, 'a=1\nb=2\n');
    fs.writeFileSync(f + '.tmp', 'a=1\nb=3\n');
    fs.renameSync(f + '.tmp', f);
    expect(fs.readFileSync(f, 'utf8')).toBe('a=1\nb=3\n');
    execSync(`sed -i 's/b=3/b=4/' ${JSON.stringify(f)}`);
    expect(fs.readFileSync(f, 'utf8')).toBe('a=1\nb=4\n');
    expect((await env.bytes(sid, '/conf.ini')).toString()).toBe('a=1\nb=4\n');
    fs.symlinkSync('conf.ini', path.join(dir, 'link'));
    expect(fs.readlinkSync(path.join(dir, 'link'))).toBe('conf.ini');
    expect(fs.readFileSync(path.join(dir, 'link'), 'utf8')).toBe('a=1\nb=4\n');
    fs.chmodSync(f, 0o755);
    expect(fs.statSync(f).mode & 0o777).toBe(0o755);
    expect((await env.node(sid, '/conf.ini')).mode & 0o777).toBe(0o755);
    fs.truncateSync(f, 3);
    expect(fs.readFileSync(f, 'utf8')).toBe('a=1');
    expect((await env.bytes(sid, '/conf.ini')).toString()).toBe('a=1');
  });
});
