// Gateway storage-engine benchmark (issues 9 and 15): per-request cost of mutations over HTTP
// against a real gateway process (loopback, fresh data dir), independent of FUSE.
//
//   node bench/scenarios/gateway.mjs [--quick] [--before /work/main/dist] [--growth N] [--json out.json]
//   npm run bench -- gateway [--quick]
//   AETHER_BENCH_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" …   (profile the gateway process)
//
// Measures, for directories of 10, 1,000 and 10,000 entries: single-file write (a one-op batch),
// rename, delete (medians); a 1,000-file batch of small files; 1 vs 4 concurrent writers (separate
// sessions); a 1,000-node manifest page; and storage growth: N single-file writes into a directory
// of 5,000 entries, database + blob bytes per write, then `gc` time (when the build has it).
// `--before DIST` runs the same workload against another build (e.g. main's dist) in the same run,
// so before/after share the machine's load. Each gateway runs in its own process.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const ROOT = path.resolve(HERE, '../..');

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}

function dirBytes(dir) {
  let total = 0;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop();
    let ents = [];
    try {
      ents = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of ents) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) total += fs.statSync(p).size;
    }
  }
  return total;
}

/** Start `gateway serve` from a dist directory in its own process; resolves {url, token, stop}. */
export async function spawnGateway(dist, dataDir) {
  const main = path.join(path.resolve(dist), 'cli', 'main.js');
  const args = ['gateway', 'serve', '--data', dataDir, '--port', '0', '--json'];
  const script = `import(${JSON.stringify(main)}).then((m) => m.run(${JSON.stringify(args)}))`;
  // AETHER_BENCH_GATEWAY_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p") profiles the gateway.
  const nodeArgs = (process.env.AETHER_BENCH_GATEWAY_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AETHER_LOG: 'warn', AETHER_HOME: path.join(dataDir, '..', 'home') },
  });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const line = await new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`gateway did not start in 30 s: ${err}`)), 30_000);
    child.stdout.on('data', (d) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i >= 0) {
        clearTimeout(t);
        resolve(buf.slice(0, i));
      }
    });
    child.once('exit', (c) => {
      clearTimeout(t);
      reject(new Error(`gateway exited ${c}: ${err}`));
    });
  });
  const { url, token } = JSON.parse(line);
  return {
    url,
    token,
    child,
    async stop() {
      if (child.exitCode !== null) return;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(t);
    },
  };
}

function caller(gw) {
  return async (method, p, body, extraHeaders = {}) => {
    const headers = { authorization: `Bearer ${gw.token}`, ...extraHeaders };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(gw.url + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${method} ${p} → ${res.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : {};
  };
}

const b64 = (s) => Buffer.from(s).toString('base64');

async function populate(call, sid, dir, n) {
  for (let i = 0; i < n; i += 1000) {
    const ops = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) ops.push({ write: { path: `${dir}/f${String(j).padStart(6, '0')}`, content: b64(`file ${j}\n`) } });
    await call('POST', `/v1/sessions/${sid}/batch`, { operations: ops });
  }
}

async function timeIt(fn) {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** The whole workload against one gateway; returns a flat result object. */
export async function gatewayWorkload(gw, { quick = false, dataDir, growth } = {}) {
  const call = caller(gw);
  const out = {};
  const iters = quick ? 10 : 30;
  const sizes = quick ? [10, 1000] : [10, 1000, 10_000];
  for (const n of sizes) {
    const { id: sid } = await call('POST', '/v1/sessions', {});
    await populate(call, sid, '/d', n);
    const w = [];
    const r = [];
    const d = [];
    for (let i = 0; i < iters; i++) {
      w.push(await timeIt(() => call('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: `/d/new${i}`, content: b64(`x${i}\n`) } }] })));
      r.push(await timeIt(() => call('POST', `/v1/sessions/${sid}:rename`, { sourcePath: `/d/new${i}`, destinationPath: `/d/ren${i}` })));
      d.push(await timeIt(() => call('DELETE', `/v1/sessions/${sid}/files?path=${encodeURIComponent(`/d/ren${i}`)}`)));
    }
    out[`write@${n}`] = median(w);
    out[`rename@${n}`] = median(r);
    out[`delete@${n}`] = median(d);
    const m = [];
    for (let i = 0; i < Math.min(iters, 10); i++) m.push(await timeIt(() => call('GET', `/v1/sessions/${sid}/manifest?pageSize=1000&pathPrefix=%2Fd`)));
    out[`manifest1000@${n}`] = median(m);
  }
  {
    const { id: sid } = await call('POST', '/v1/sessions', {});
    const t = [];
    for (let k = 0; k < (quick ? 3 : 5); k++) {
      const ops = [];
      for (let j = 0; j < 1000; j++) ops.push({ write: { path: `/b${k}/f${j}`, content: b64(`small file ${k}/${j}\n`.repeat(4)) } });
      t.push(await timeIt(() => call('POST', `/v1/sessions/${sid}/batch`, { operations: ops })));
    }
    out['batch1000'] = median(t);
  }
  {
    const per = quick ? 40 : 100;
    const writer = async (sid, tag) => {
      for (let i = 0; i < per; i++) await call('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: `/w/${tag}-${i}`, content: b64(`${tag} ${i}\n`) } }] });
    };
    const sids = [];
    for (let i = 0; i < 4; i++) sids.push((await call('POST', '/v1/sessions', {})).id);
    const one = await timeIt(() => writer(sids[0], 'solo'));
    const four = await timeIt(() => Promise.all(sids.map((s, i) => writer(s, `c${i}`))));
    out['writers1_ops_s'] = per / (one / 1000);
    out['writers4_ops_s'] = (4 * per) / (four / 1000);
  }
  if (dataDir) {
    const n = growth ?? (quick ? 1000 : 10_000);
    const { id: sid } = await call('POST', '/v1/sessions', {});
    await populate(call, sid, '/g', 5000);
    const before = dirBytes(dataDir);
    let written = 0;
    const t0 = Date.now();
    for (let i = 0; i < n; i++) {
      const content = `write ${i} ${'y'.repeat(40)}\n`;
      written += content.length;
      await call('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: `/g/f${String(i % 5000).padStart(6, '0')}`, content: b64(content) } }] });
    }
    out['growth_writes'] = n;
    out['growth_ms_per_write'] = (Date.now() - t0) / n;
    const after = dirBytes(dataDir);
    out['growth_bytes_per_write'] = (after - before) / n;
    out['growth_payload_bytes_per_write'] = written / n;
    const gc = await fetch(gw.url + '/v1/admin/gc', { method: 'POST', headers: { authorization: `Bearer ${gw.token}`, 'content-type': 'application/json' }, body: '{}' });
    if (gc.status === 200) {
      const body = await gc.json();
      out['gc_ms'] = Number(body.durationMs);
      out['gc_max_pause_ms'] = Number(body.maxPauseMs);
      out['after_gc_bytes_per_write'] = (dirBytes(dataDir) - before) / n;
    } else await gc.text();
  }
  return out;
}

async function runOne(label, dist, quick, log, growth) {
  const root = fs.mkdtempSync(path.join(process.env.TMPDIR ?? os.tmpdir(), `aether-bench-gw-${label}-`));
  const dataDir = path.join(root, 'data');
  const gw = await spawnGateway(dist, dataDir);
  try {
    log(`gateway (${label}): ${dist}`);
    return await gatewayWorkload(gw, { quick, dataDir, growth });
  } finally {
    await gw.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** bench/run.mjs entry: rows of {metric, before?, after}. */
export async function gatewayScenario({ quick = false, before, growth } = {}, log = console.error) {
  const after = await runOne('after', path.join(ROOT, 'dist'), quick, log, growth);
  const prev = before ? await runOne('before', before, quick, log, growth) : undefined;
  return { after, before: prev };
}

export function gatewayMarkdown({ after, before }) {
  const fmt = (k, v) => (typeof v !== 'number' ? '–' : k.endsWith('ops_s') ? `${v.toFixed(0)} ops/s` : k.includes('bytes') || k === 'growth_writes' ? v.toFixed(0) : `${v.toFixed(2)} ms`);
  const lines = ['| Metric | Before | After | After ÷ before |', '|---|---|---|---|'];
  for (const k of Object.keys(after)) {
    const b = before?.[k];
    lines.push(`| ${k} | ${fmt(k, b)} | ${fmt(k, after[k])} | ${b ? `×${(after[k] / b).toFixed(2)}` : '–'} |`);
  }
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const bi = argv.indexOf('--before');
  const before = bi >= 0 ? argv[bi + 1] : undefined;
  const ji = argv.indexOf('--json');
  const gi = argv.indexOf('--growth');
  const res = await gatewayScenario({ quick, before, growth: gi >= 0 ? Number(argv[gi + 1]) : undefined });
  if (ji >= 0) fs.writeFileSync(argv[ji + 1], JSON.stringify({ loadavg: os.loadavg(), ...res }, null, 2) + '\n');
  console.log(`load average: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n\n${gatewayMarkdown(res)}`);
}
