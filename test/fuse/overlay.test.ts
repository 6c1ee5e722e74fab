// Overlay (local-first) mode on real mounts against a real gateway: coalescing, ordering, renames
// that stay renames, the fsync and lock barriers, kill -9 in the middle of writing and of
// shipping, a second mount following changes, and a gateway that goes away and comes back.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createMountEnv, sha, type MountEnv } from '../helpers/mount-env.js';
import { detach, hasFuse, type MountProc } from '../helpers/processes.js';
import { controlCall } from '../../src/control/control-client.js';

const overlay = { mode: 'overlay' as const };

/** The gateway's manifest node for a path, read right now (no sync first). */
async function nodeNow(env: MountEnv, sid: string, p: string): Promise<any> {
  const r = await env.callNow('GET', `/v1/sessions/${sid}/manifest?pathPrefix=${encodeURIComponent(p)}&maxDepth=1`);
  return (r.nodes ?? []).find((n: any) => n.path === p);
}

async function sync(m: MountProc): Promise<void> {
  await controlCall(m.record.socketPath, 'sync', {}, 60_000);
}

async function status(m: MountProc): Promise<any> {
  return controlCall(m.record.socketPath, 'status', {}, 10_000);
}

async function events(env: MountEnv, sid: string): Promise<any[]> {
  const out: any[] = [];
  let token = '';
  for (let i = 0; i < 50; i++) {
    const r = await env.callNow('GET', `/v1/sessions/${sid}/events?pageSize=500${token ? `&pageToken=${token}` : ''}`);
    out.push(...(r.events ?? []));
    token = r.nextPageToken ?? '';
    if (!token) break;
  }
  return out;
}

async function waitFor(cond: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

describe.skipIf(!hasFuse)('overlay mode: local-first mount', () => {
  let env: MountEnv;
  beforeAll(async () => {
    env = await createMountEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('coalesces: a file created, written and removed before shipping never reaches the gateway', async () => {
    const sid = await env.createSession();
    const m = await env.mount(sid, 'coalesce', { ...overlay, env: { AETHER_SHIP_DELAY_MS: '1500' } });
    const before = (await env.metrics()).bytesReceived;
    const p = path.join(m.mountpoint, 'tmp.bin');
    fs.writeFileSync(p, randomBytes(64 * 1024));
    fs.unlinkSync(p);
    fs.writeFileSync(path.join(m.mountpoint, 'kept.txt'), 'kept\n');
    await sync(m);
    expect((await env.metrics()).bytesReceived - before).toBe(5);
    const evs = await events(env, sid);
    expect(JSON.stringify(evs)).not.toContain('tmp.bin');
    expect((await nodeNow(env, sid, '/kept.txt')).contentHash).toBe(sha('kept\n'));
    await m.stop();
  });

  it('keeps order: write, rename, write ships as the final tree; a temp file renamed over its target is one write', async () => {
    const sid = await env.createSession();
    const m = await env.mount(sid, 'order', overlay);
    const d = m.mountpoint;
    fs.writeFileSync(path.join(d, 'target.txt'), 'old\n');
    await sync(m);
    const evBefore = (await events(env, sid)).length;
    fs.writeFileSync(path.join(d, 'a.txt'), 'one\n');
    fs.renameSync(path.join(d, 'a.txt'), path.join(d, 'b.txt'));
    fs.appendFileSync(path.join(d, 'b.txt'), 'two\n');
    fs.mkdirSync(path.join(d, 'dir'));
    fs.writeFileSync(path.join(d, 'dir/x'), 'x');
    fs.renameSync(path.join(d, 'dir'), path.join(d, 'dir2'));
    fs.writeFileSync(path.join(d, '.target.txt.swp'), 'new\n');
    fs.renameSync(path.join(d, '.target.txt.swp'), path.join(d, 'target.txt'));
    await sync(m);
    expect(await nodeNow(env, sid, '/a.txt')).toBeUndefined();
    expect(Buffer.from(await env.bytes(sid, '/b.txt')).toString()).toBe('one\ntwo\n');
    expect(await nodeNow(env, sid, '/dir')).toBeUndefined();
    expect(Buffer.from(await env.bytes(sid, '/dir2/x')).toString()).toBe('x');
    expect(Buffer.from(await env.bytes(sid, '/target.txt')).toString()).toBe('new\n');
    const fresh = (await events(env, sid)).slice(evBefore);
    expect(JSON.stringify(fresh)).not.toContain('.target.txt.swp');
    expect(fresh.filter((e) => e.eventType === 'v1.FileSystemService.Rename').length).toBe(1); // the dir rename only
    await m.stop();
  });

  it('a rename of a large file already on the gateway uploads no content bytes', async () => {
    const sid = await env.createSession();
    const m = await env.mount(sid, 'bigrename', overlay);
    const big = randomBytes(12 * 1024 * 1024);
    fs.writeFileSync(path.join(m.mountpoint, 'big.bin'), big);
    await sync(m);
    const before = (await env.metrics()).bytesReceived;
    fs.renameSync(path.join(m.mountpoint, 'big.bin'), path.join(m.mountpoint, 'moved.bin'));
    await sync(m);
    expect((await env.metrics()).bytesReceived - before).toBe(0);
    expect((await nodeNow(env, sid, '/moved.bin')).contentHash).toBe(sha(big));
    expect(sha(fs.readFileSync(path.join(m.mountpoint, 'moved.bin')))).toBe(sha(big));
    await m.stop();
  });

  it('fsync is a barrier: right after it returns the gateway has the bytes', async () => {
    const sid = await env.createSession();
    const m = await env.mount(sid, 'fsync', { ...overlay, env: { AETHER_SHIP_DELAY_MS: '5000' } });
    fs.mkdirSync(path.join(m.mountpoint, 'sub'));
    const fd = fs.openSync(path.join(m.mountpoint, 'sub/f.txt'), 'w');
    fs.writeSync(fd, 'durable\n');
    fs.fsyncSync(fd);
    expect((await nodeNow(env, sid, '/sub/f.txt'))?.contentHash).toBe(sha('durable\n'));
    fs.closeSync(fd);
    await m.stop();
  });

  it('a second mount sees a change within 2 s', async () => {
    const sid = await env.createSession();
    const a = await env.mount(sid, 'seeA', overlay);
    const b = await env.mount(sid, 'seeB', overlay);
    expect(fs.readdirSync(b.mountpoint)).toEqual([]);
    const t0 = Date.now();
    fs.writeFileSync(path.join(a.mountpoint, 'hello.txt'), 'hi\n');
    const seen = await waitFor(() => {
      try {
        return fs.readFileSync(path.join(b.mountpoint, 'hello.txt'), 'utf8') === 'hi\n';
      } catch {
        return false;
      }
    }, 4000);
    expect(seen).toBe(true);
    expect(Date.now() - t0).toBeLessThan(2000);
    await a.stop();
    await b.stop();
  });

  it('kill -9 while writing: after remount every file closed before the kill has its exact bytes', async () => {
    const sid = await env.createSession();
    let m = await env.mount(sid, 'kill', { ...overlay, env: { AETHER_SHIP_DELAY_MS: '400' } });
    const d = m.mountpoint;
    // A writer that prints each file's name once close() returned (like tar, with a log).
    const script = `
      const fs = require('fs'), path = require('path'), crypto = require('crypto');
      for (let i = 0; i < 100000; i++) {
        const dir = path.join(${JSON.stringify(d)}, 'd' + (i % 7));
        fs.mkdirSync(dir, { recursive: true });
        const buf = crypto.createHash('sha256').update('f' + i).digest();
        const body = Buffer.concat(Array.from({ length: 1 + (i % 50) }, () => buf));
        fs.writeFileSync(path.join(dir, 'f' + i), body);
        process.stdout.write('f' + i + '\\n');
      }`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    const enough = await waitFor(() => out.split('\n').length > 400, 30_000);
    expect(enough).toBe(true);
    await m.kill9();
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r)));
    const closed = out.split('\n').filter(Boolean);
    detach(d);
    m = await env.mount(sid, 'kill', overlay);
    const expectBody = (i: number) => {
      const h = createHash('sha256').update('f' + i).digest();
      return Buffer.concat(Array.from({ length: 1 + (i % 50) }, () => h));
    };
    for (const name of closed) {
      const i = Number(name.slice(1));
      expect(fs.readFileSync(path.join(d, `d${i % 7}`, name)).equals(expectBody(i))).toBe(true);
    }
    await sync(m);
    for (const name of closed.filter((_, k) => k % 10 === 0)) {
      const i = Number(name.slice(1));
      expect((await nodeNow(env, sid, `/d${i % 7}/${name}`))?.contentHash).toBe(sha(expectBody(i)));
    }
    const s = await status(m);
    expect(s.conflicts).toEqual([]);
    await m.stop();
  }, 120_000);
});

/**
 * A loopback TCP proxy in its own process (the test's synchronous fs calls block this process,
 * and the mount must still reach the gateway while they run). `stop` cuts every connection and
 * closes the port; `start` listens on the same port again.
 */
const PROXY_SCRIPT = `
const net = require('net');
const target = Number(process.argv[1]);
let server, port = 0;
const socks = new Set();
function start(cb) {
  if (server) return cb();
  server = net.createServer((c) => {
    const up = net.connect(target, '127.0.0.1');
    socks.add(c); socks.add(up);
    const drop = () => { c.destroy(); up.destroy(); socks.delete(c); socks.delete(up); };
    c.on('error', drop).on('close', drop); up.on('error', drop).on('close', drop);
    c.pipe(up).pipe(c);
  });
  server.listen(port, '127.0.0.1', () => { port = server.address().port; cb(); });
}
function stop(cb) {
  for (const s of socks) s.destroy();
  socks.clear();
  if (!server) return cb();
  server.close(() => cb());
  server = undefined;
}
let buf = '';
process.stdin.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const cmd = buf.slice(0, i); buf = buf.slice(i + 1);
    (cmd === 'start' ? start : stop)(() => process.stdout.write(JSON.stringify({ port }) + '\\n'));
  }
});
process.stdin.on('end', () => process.exit(0));
`;

class Proxy {
  private child: ChildProcess | undefined;
  private lines: string[] = [];
  private waiters: Array<(l: string) => void> = [];
  port = 0;
  constructor(private readonly target: number) {}
  private send(cmd: string): Promise<string> {
    if (!this.child) {
      this.child = spawn(process.execPath, ['-e', PROXY_SCRIPT, String(this.target)], { stdio: ['pipe', 'pipe', 'inherit'] });
      let buf = '';
      this.child.stdout!.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const l = buf.slice(0, i);
          buf = buf.slice(i + 1);
          const w = this.waiters.shift();
          if (w) w(l);
          else this.lines.push(l);
        }
      });
    }
    this.child.stdin!.write(cmd + '\n');
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('proxy did not answer')), 10_000);
      this.waiters.push((l) => {
        clearTimeout(t);
        resolve(l);
      });
    });
  }
  async start(): Promise<void> {
    this.port = JSON.parse(await this.send('start')).port;
  }
  async stop(): Promise<void> {
    await this.send('stop');
  }
  kill(): void {
    this.child?.kill('SIGKILL');
  }
}

describe.skipIf(!hasFuse)('overlay mode: the gateway goes away and comes back', () => {
  let env: MountEnv;
  let proxy: Proxy;
  beforeAll(async () => {
    env = await createMountEnv();
    proxy = new Proxy(Number(new URL(env.gw.url).port));
    await proxy.start();
  });
  afterAll(async () => {
    await env?.teardown();
    proxy?.kill();
  });

  it('work goes on locally without blocking, ships when the gateway is back, nothing lost', async () => {
    const sid = await env.createSession();
    const m = await env.mount(sid, 'outage', { ...overlay, gatewayUrl: `http://127.0.0.1:${proxy.port}` });
    const d = m.mountpoint;
    fs.mkdirSync(path.join(d, 'pre'));
    fs.writeFileSync(path.join(d, 'pre/old.txt'), 'old\n');
    await sync(m);
    await proxy.stop();
    const t0 = Date.now();
    const slowest: number[] = [];
    const timed = (fn: () => void) => {
      const s = Date.now();
      fn();
      slowest.push(Date.now() - s);
    };
    const files: Record<string, Buffer> = {};
    // Bounded "minute": 15 s of work while the gateway is unreachable.
    for (let i = 0; Date.now() - t0 < 15_000 && i < 400; i++) {
      const rel = `out/d${i % 5}/f${i}.bin`;
      timed(() => fs.mkdirSync(path.join(d, `out/d${i % 5}`), { recursive: true }));
      files[rel] = randomBytes(100 + (i % 9) * 1000);
      timed(() => fs.writeFileSync(path.join(d, rel), files[rel]!));
      if (i % 10 === 9) {
        timed(() => fs.renameSync(path.join(d, rel), path.join(d, rel + '.r')));
        files[rel + '.r'] = files[rel]!;
        delete files[rel];
      }
      timed(() => expect(fs.existsSync(path.join(d, `pre/missing${i}`))).toBe(false));
      await new Promise((r) => setTimeout(r, 20));
    }
    fs.unlinkSync(path.join(d, 'pre/old.txt'));
    expect(Math.max(...slowest)).toBeLessThan(1000);
    const st = await status(m);
    expect(st.shipping.queuedOps).toBeGreaterThan(0);
    await proxy.start();
    await sync(m);
    for (const [rel, body] of Object.entries(files)) expect((await nodeNow(env, sid, '/' + rel))?.contentHash).toBe(sha(body));
    expect(await nodeNow(env, sid, '/pre/old.txt')).toBeUndefined();
    const after = await status(m);
    expect(after.shipping.queuedOps).toBe(0);
    expect(after.shipping.retries).toBeGreaterThan(0);
    await m.stop();
  }, 120_000);
});


/**
 * An HTTP proxy in front of the gateway (a child process: the test's own synchronous fs calls on
 * the mount must not block it) that records the `x-aether-request-id` of every mutation and, while
 * armed, forwards a mutation but drops its answer (the gateway applied it, the client sees a lost
 * connection: an unknown outcome). Commands on stdin, one JSON answer per line on stdout.
 */
const LOSSY_PROXY_SCRIPT = `
const http = require('node:http');
const target = Number(process.argv[1]);
const seen = [];
let drop = 0;
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const mutation = req.method !== 'GET' && req.method !== 'HEAD';
    const id = req.headers['x-aether-request-id'];
    // Only a request's first attempt loses its answer (its retries get through).
    const dropIt = mutation && drop > 0 && /\\/batch|:rename|\\/dirs/.test(req.url) && !seen.some((s) => s.id === id && s.dropped);
    if (dropIt) drop--;
    if (mutation) seen.push({ method: req.method, url: req.url, id, dropped: dropIt });
    const up = http.request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      if (dropIt) { ur.resume(); ur.on('end', () => req.socket.destroy()); return; }
      res.writeHead(ur.statusCode || 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    up.end(Buffer.concat(chunks));
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\\n'));
let buf = '';
process.stdin.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const cmd = JSON.parse(buf.slice(0, i));
    buf = buf.slice(i + 1);
    if (cmd.drop !== undefined) drop = cmd.drop;
    process.stdout.write(JSON.stringify({ seen }) + '\\n');
  }
});
process.stdin.on('end', () => process.exit(0));
`;

class LossyProxy {
  private child: ChildProcess | undefined;
  private waiters: Array<(l: string) => void> = [];
  port = 0;
  constructor(private readonly target: number) {}
  private next(): Promise<string> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('proxy did not answer')), 10_000);
      this.waiters.push((l) => {
        clearTimeout(t);
        resolve(l);
      });
    });
  }
  async start(): Promise<void> {
    this.child = spawn(process.execPath, ['-e', LOSSY_PROXY_SCRIPT, String(this.target)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let buf = '';
    this.child.stdout!.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.waiters.shift()?.(l);
      }
    });
    this.port = JSON.parse(await this.next()).port;
  }
  /** Arm (drop the answers of the next `n` mutations) and return what was seen so far. */
  async command(c: { drop?: number }): Promise<Array<{ method: string; url: string; id: string | undefined; dropped: boolean }>> {
    const p = this.next();
    this.child!.stdin!.write(JSON.stringify(c) + '\n');
    return JSON.parse(await p).seen;
  }
  kill(): void {
    this.child?.kill('SIGKILL');
  }
}

describe.skipIf(!hasFuse)('overlay mode: request ids', () => {
  let env: MountEnv;
  let proxy: LossyProxy;
  beforeAll(async () => {
    env = await createMountEnv();
    proxy = new LossyProxy(Number(new URL(env.gw.url).port));
    await proxy.start();
  });
  afterAll(async () => {
    await env?.teardown();
    proxy?.kill();
  });

  it('every shipped mutation carries x-aether-request-id; a retry after a lost answer reuses it and is applied once', async () => {
    const sid = await env.createSession();
    const m = await env.mount(sid, 'reqid', { ...overlay, gatewayUrl: `http://127.0.0.1:${proxy.port}` });
    const d = m.mountpoint;
    fs.writeFileSync(path.join(d, 'a.txt'), 'v1\n');
    fs.mkdirSync(path.join(d, 'dir'), { mode: 0o750 });
    await sync(m);
    const evBefore = (await events(env, sid)).length;
    const from = (await proxy.command({})).length;
    // The next write, rename and mkdir are applied by the gateway but their answers are lost.
    await proxy.command({ drop: 3 });
    fs.writeFileSync(path.join(d, 'a.txt'), 'v2\n');
    await sync(m);
    fs.renameSync(path.join(d, 'a.txt'), path.join(d, 'dir/b.txt'));
    await sync(m);
    fs.mkdirSync(path.join(d, 'dir/sub'), { mode: 0o700 });
    await sync(m);
    const mine = (await proxy.command({})).slice(from);
    const dropped = mine.filter((s) => s.dropped);
    expect(dropped.length).toBe(3);
    for (const s of mine) expect(s.id, `${s.method} ${s.url}`).toMatch(/^ov\.[0-9a-f]{16}\.\d+\.\d+\.[0-9a-f]{32}$/);
    // Each lost request was sent again with the same id (and the gateway answered it from its log).
    for (const s of dropped) expect(mine.filter((x) => x.id === s.id && x.url === s.url).length).toBeGreaterThanOrEqual(2);
    // Distinct changes have distinct ids.
    expect(new Set(dropped.map((s) => s.id)).size).toBe(3);
    expect((await nodeNow(env, sid, '/dir/b.txt'))?.contentHash).toBe(sha('v2\n'));
    expect(await nodeNow(env, sid, '/a.txt')).toBeUndefined();
    expect(await nodeNow(env, sid, '/dir/sub')).toBeDefined();
    // Applied once: one event per change (write, rename, mkdir), no conflict copy, nothing failed.
    const evs = (await events(env, sid)).slice(evBefore);
    expect(evs.length).toBe(3);
    const st = await status(m);
    expect(st.conflicts).toEqual([]);
    expect(st.shipping.failedOps).toEqual([]);
    expect(fs.readdirSync(d).sort()).toEqual(['dir']);
    await m.stop();
  }, 60_000);
});
