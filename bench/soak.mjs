#!/usr/bin/env node
// Concurrency soak (issue 12's "done means"): two mounts of one session and a plain HTTP client do
// read-modify-write appends to the same file for a bounded time. A line counts as acknowledged when
// the writer's close() returned 0 (mounts) or its `batch` returned 200 (HTTP; it retries on
// ABORTED with the new base). At the end both mounts sync, and every acknowledged line must be in
// the file or in one of its conflict copies (`<name>.conflict-*`) — a lost line is data loss and
// makes the script exit 1.
//
//   node bench/soak.mjs [--seconds 120] [--file /log.txt] [--http-every-ms 50] [--json out.json]
//
// Loopback only (the gateway and both mounts are local processes); every loop is bounded by the
// deadline and an iteration cap; mounts are always unmounted in teardown. Run on demand, never in CI.
// The mount mode follows the environment (AETHER_MOUNT_MODE, AETHER_FUSE_BINDING), so the same soak
// runs against every write path.
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { createBenchEnv, ensureBuilt } from './lib.mjs';

function parseArgs(argv) {
  const o = { seconds: 120, file: '/log.txt', httpEveryMs: 50, json: undefined, maxOps: 100_000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === '--seconds') o.seconds = Number(v());
    else if (a === '--file') o.file = v();
    else if (a === '--http-every-ms') o.httpEveryMs = Number(v());
    else if (a === '--json') o.json = v();
    else if (a === '--max-ops') o.maxOps = Number(v());
    else throw new Error(`unknown argument ${a}`);
  }
  if (!(o.seconds > 0) || !o.file.startsWith('/')) throw new Error('--seconds must be > 0 and --file absolute');
  return o;
}

const sha = (b) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error('[soak]', ...a);

async function main() {
  const o = parseArgs(process.argv.slice(2));
  ensureBuilt(log);
  const env = await createBenchEnv();
  const acked = new Map(); // line → writer
  const stats = { mountA: { ok: 0, err: 0 }, mountB: { ok: 0, err: 0 }, http: { ok: 0, aborted: 0, err: 0 } };
  let exitCode = 0;
  try {
    const sid = await env.createSession({ purpose: 'soak' });
    await env.call('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: o.file, content: '', expectedHash: '' } }] });
    const a = await env.mount(sid, 'a');
    const b = await env.mount(sid, 'b');
    const deadline = Date.now() + o.seconds * 1000;
    let ops = 0;
    const more = () => Date.now() < deadline && ops++ < o.maxOps;

    const mountWriter = async (name, m, st) => {
      const p = path.join(m.mountpoint, o.file);
      for (let n = 0; more(); n++) {
        const line = `${name}-${n}`;
        try {
          const fh = await fsp.open(p, 'r+');
          try {
            const cur = await fh.readFile();
            const next = Buffer.concat([cur, Buffer.from(line + '\n')]);
            await fh.write(next, 0, next.length, 0);
            await fh.truncate(next.length);
          } finally {
            await fh.close();
          }
          acked.set(line, name);
          st.ok++;
        } catch (e) {
          st.err++;
          if (st.err <= 3) log(`${name}: ${e.message}`);
          await sleep(20);
        }
      }
    };

    // Blob bytes over the extension route (the harness' call() parses JSON, so fetch raw here).
    const blob = async (sessionId, hash, off, len) => {
      const url = `${env.url}/v1/sessions/${sessionId}/blobs/${encodeURIComponent(hash)}`;
      const res = await fetch(url, { headers: { authorization: `Bearer ${env.token}`, range: `bytes=${off}-${off + len - 1}` } });
      if (!res.ok) throw new Error(`blob ${hash}: ${res.status}`);
      return Buffer.from(await res.arrayBuffer());
    };

    const httpWriter = async () => {
      for (let n = 0; more(); n++) {
        const line = `http-${n}`;
        for (let attempt = 0; attempt < 20 && Date.now() < deadline + 30_000; attempt++) {
          let cur;
          try {
            const r = await env.call('POST', `/v1/sessions/${sid}:getCasExtents`, { path: o.file });
            const parts = [];
            for (const x of r.extents ?? []) {
              const len = Number(x.length);
              if (!x.hash) parts.push(Buffer.alloc(len));
              else parts.push(await blob(sid, x.hash, Number(x.casOffset ?? 0), len));
            }
            cur = Buffer.concat(parts);
          } catch (e) {
            stats.http.err++;
            await sleep(50);
            continue;
          }
          const next = Buffer.concat([cur, Buffer.from(line + '\n')]);
          try {
            await env.call('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: o.file, content: next.toString('base64'), expectedHash: sha(cur) } }] });
            acked.set(line, 'http');
            stats.http.ok++;
            break;
          } catch (e) {
            if (/→ 409|ABORTED|FAILED_PRECONDITION/.test(e.message)) stats.http.aborted++;
            else stats.http.err++;
            await sleep(10);
          }
        }
        await sleep(o.httpEveryMs);
      }
    };

    log(`soak: ${o.seconds} s, two mounts + HTTP appending to ${o.file} (load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})`);
    await Promise.all([mountWriter('a', a, stats.mountA), mountWriter('b', b, stats.mountB), httpWriter()]);
    await a.control('sync', {}, 120_000);
    await b.control('sync', {}, 120_000);

    // Everything the gateway holds: the file and its conflict copies.
    const dir = path.posix.dirname(o.file);
    const base = path.posix.basename(o.file);
    const listing = await env.call('GET', `/v1/sessions/${sid}/manifest?pathPrefix=${encodeURIComponent(dir)}&maxDepth=1&pageSize=5000`);
    const names = (listing.nodes ?? []).map((n) => n.path).filter((p) => p === o.file || path.posix.basename(p).startsWith(base + '.conflict-'));
    const present = new Set();
    for (const p of names) {
      const r = await env.call('POST', `/v1/sessions/${sid}:getCasExtents`, { path: p });
      const parts = [];
      for (const x of r.extents ?? []) parts.push(x.hash ? await blob(sid, x.hash, Number(x.casOffset ?? 0), Number(x.length)) : Buffer.alloc(Number(x.length)));
      for (const l of Buffer.concat(parts).toString().split('\n')) if (l) present.add(l);
    }
    const lost = [...acked.keys()].filter((l) => !present.has(l));
    const result = {
      seconds: o.seconds,
      acknowledged: acked.size,
      writers: stats,
      conflictCopies: names.length - 1,
      lost: lost.length,
      lostSample: lost.slice(0, 20),
      load: os.loadavg().map((x) => Number(x.toFixed(2))),
    };
    console.log(JSON.stringify(result, null, 2));
    if (o.json) await fsp.writeFile(o.json, JSON.stringify(result, null, 2));
    if (lost.length > 0 || acked.size === 0) exitCode = 1;
    log(lost.length ? `LOST ${lost.length} of ${acked.size} acknowledged lines` : `all ${acked.size} acknowledged lines present (${names.length - 1} conflict copies)`);
  } finally {
    await env.teardown();
  }
  process.exitCode = exitCode;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 2;
});
