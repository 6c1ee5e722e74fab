// Durability and multi-client consistency on real mounts: kill -9 recovery of journaled writes,
// two mounts of one session seeing each other's changes, and HTTP API changes showing up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createMountEnv, sha, type MountEnv } from '../helpers/mount-env.js';
import { detach, hasFuse } from '../helpers/processes.js';

async function eventually<T>(fn: () => T | Promise<T>, ok: (v: T) => boolean, timeoutMs = 2500): Promise<T> {
  const start = Date.now();
  let v = await fn();
  while (!ok(v)) {
    if (Date.now() - start > timeoutMs) return v;
    await new Promise((r) => setTimeout(r, 50));
    v = await fn();
  }
  return v;
}

const tryRead = (p: string) => {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
};

describe.skipIf(!hasFuse)('real mounts: durability and consistency', () => {
  let env: MountEnv;
  beforeAll(async () => {
    env = await createMountEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('uploads fsynced writes whose upload never finished after kill -9, on the next mount', async () => {
    const sid = await env.createSession();
    const m = await env.mount(sid, 'crash');
    expect(fs.readdirSync(m.mountpoint)).toEqual([]); // the root listing is now cached
    // Stop the gateway from acknowledging: fsync writes the journal, then the upload fails.
    await env.gw.stop();
    const f = path.join(m.mountpoint, 'precious.txt');
    const fd = fs.openSync(f, 'w');
    fs.writeSync(fd, 'do not lose me\n');
    let fsyncFailed = false;
    try {
      fs.fsyncSync(fd);
    } catch {
      fsyncFailed = true;
    }
    expect(fsyncFailed).toBe(true); // errors surface in fsync, never silently
    await m.kill9();
    detach(m.mountpoint);
    try {
      fs.closeSync(fd);
    } catch {
      /* the mount is gone */
    }
    // Bring the gateway back on the same data and mount again: the journal replays.
    const { startGatewayProcess } = await import('../helpers/processes.js');
    const gw2 = await startGatewayProcess(env.gw.dataDir);
    Object.assign(env.gw, gw2);
    const m2 = await env.mount(sid, 'crash');
    expect(fs.readFileSync(path.join(m2.mountpoint, 'precious.txt'), 'utf8')).toBe('do not lose me\n');
    expect((await env.node(sid, '/precious.txt')).contentHash).toBe(sha('do not lose me\n'));
    await m2.stop();
  });

  it('two mounts of one session see each other’s changes within 2 s', async () => {
    const sid = await env.createSession();
    const a = await env.mount(sid, 'a');
    const b = await env.mount(sid, 'b');
    expect(fs.readdirSync(b.mountpoint)).toEqual([]);
    fs.writeFileSync(path.join(a.mountpoint, 'from-a.txt'), 'A1');
    expect(await eventually(() => tryRead(path.join(b.mountpoint, 'from-a.txt')), (v) => v === 'A1')).toBe('A1');
    fs.writeFileSync(path.join(b.mountpoint, 'from-a.txt'), 'B2');
    expect(await eventually(() => tryRead(path.join(a.mountpoint, 'from-a.txt')), (v) => v === 'B2')).toBe('B2');
    fs.mkdirSync(path.join(a.mountpoint, 'dir'));
    fs.renameSync(path.join(a.mountpoint, 'from-a.txt'), path.join(a.mountpoint, 'dir', 'moved.txt'));
    expect(await eventually(() => tryRead(path.join(b.mountpoint, 'dir', 'moved.txt')), (v) => v === 'B2')).toBe('B2');
    expect(await eventually(() => fs.existsSync(path.join(b.mountpoint, 'from-a.txt')), (v) => v === false)).toBe(false);
    await a.stop();
    await b.stop();
  });

  it('a change through the HTTP API shows up in the mount within 2 s', async () => {
    const sid = await env.createSession();
    const m = await env.mount(sid, 'http');
    fs.writeFileSync(path.join(m.mountpoint, 'cfg.txt'), 'old');
    expect(fs.readFileSync(path.join(m.mountpoint, 'cfg.txt'), 'utf8')).toBe('old');
    await env.call('POST', `/v1/sessions/${sid}/batch`, {
      operations: [{ write: { path: '/cfg.txt', content: Buffer.from('new content').toString('base64'), expectedHash: sha('old') } }],
    });
    expect(await eventually(() => tryRead(path.join(m.mountpoint, 'cfg.txt')), (v) => v === 'new content')).toBe('new content');
    await m.stop();
  });

  it('a conflicting remote change keeps the local version as a visible conflict copy', async () => {
    const sid = await env.createSession();
    const m = await env.mount(sid, 'conflict');
    const f = path.join(m.mountpoint, 'doc.txt');
    fs.writeFileSync(f, 'base');
    const fd = fs.openSync(f, 'r+');
    fs.writeSync(fd, 'LOCAL', 0);
    // Someone else rewrites the file while we hold unsaved edits.
    await env.call('POST', `/v1/sessions/${sid}/batch`, {
      operations: [{ write: { path: '/doc.txt', content: Buffer.from('REMOTE').toString('base64'), expectedHash: '' } }],
    });
    fs.closeSync(fd);
    const names = fs.readdirSync(m.mountpoint);
    const copy = names.find((n) => n.startsWith('doc.txt.conflict-'));
    expect(copy).toBeDefined();
    expect(fs.readFileSync(path.join(m.mountpoint, copy!), 'utf8')).toBe('LOCAL');
    expect(fs.readFileSync(f, 'utf8')).toBe('REMOTE');
    await m.stop();
  });
  it('an edit of the version a file was read at conflicts when someone replaced it meanwhile (no silent merge)', async () => {
    const sid = await env.createSession();
    const m = await env.mount(sid, 'merge');
    const f = path.join(m.mountpoint, 'doc.txt');
    fs.writeFileSync(f, 'base line\n');
    const fd = fs.openSync(f, 'r+');
    expect(fs.readFileSync(fd, 'utf8')).toBe('base line\n');
    // Another client replaces the file after we read it, and the mount hears of it.
    const remote = 'remote-one\nremote-two\n';
    await env.call('POST', `/v1/sessions/${sid}/batch`, {
      operations: [{ write: { path: '/doc.txt', content: Buffer.from(remote).toString('base64'), expectedHash: sha('base line\n') } }],
    });
    expect(await eventually(() => tryRead(f), (v) => v === remote)).toBe(remote);
    // Our edit is of what we read: it must not be spliced over (or replace) the other version.
    fs.writeSync(fd, 'local-edit\n', 0);
    fs.closeSync(fd);
    expect((await env.bytes(sid, '/doc.txt')).toString()).toBe(remote);
    const copies = fs.readdirSync(m.mountpoint).filter((n) => n.startsWith('doc.txt.conflict-'));
    expect(copies).toHaveLength(1);
    expect((await env.bytes(sid, '/' + copies[0])).toString()).toBe('local-edit\n');
    await m.stop();
  });

  it('two conflicts on one file in the same second keep two copies', async () => {
    const sid = await env.createSession();
    const m = await env.mount(sid, 'twice');
    const f = path.join(m.mountpoint, 'n.txt');
    fs.writeFileSync(f, 'v0');
    for (const [i, prev] of [[1, 'v0'], [2, 'r1']] as const) {
      const fd = fs.openSync(f, 'r+');
      fs.writeSync(fd, `local${i}`, 0);
      await env.call('POST', `/v1/sessions/${sid}/batch`, {
        operations: [{ write: { path: '/n.txt', content: Buffer.from(`r${i}`).toString('base64'), expectedHash: sha(prev) } }],
      });
      fs.closeSync(fd);
    }
    const copies = fs.readdirSync(m.mountpoint).filter((n) => n.startsWith('n.txt.conflict-'));
    expect(copies).toHaveLength(2);
    const contents = await Promise.all(copies.map(async (c) => (await env.bytes(sid, '/' + c)).toString()));
    expect(contents.sort()).toEqual(['local1', 'local2']);
    await m.stop();
  });
});
