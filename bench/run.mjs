#!/usr/bin/env node
// Aether benchmarks (on demand, never in CI): the same work on a real mount and on native disk (a
// temp dir on the same filesystem), reported as a markdown table of times, ratios and gateway
// byte counters, plus the mount daemon's peak memory while streaming a large file.
//
//   npm run bench                      # every scenario, full size
//   npm run bench -- --quick           # small sizes: a sanity run in about a minute
//   npm run bench -- clone seq         # selected scenarios (ops, tree, clone, seq, memory)
//   npm run bench -- --binding fuse-native  # force a FUSE binding (default: the daemon's choice)
//   npm run bench -- --files 2000 --seq-mib 512 --mem-mib 1024 --json out.json --keep
//
// Needs /dev/fuse; run as root so the page cache can be dropped between cold measurements.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { createBenchEnv, ensureBuilt, machineInfo, fmtMs, fmtBytes, mbps, MiB } from './lib.mjs';
import { treeScenario } from './scenarios/tree.mjs';
import { cloneScenario } from './scenarios/clone.mjs';
import { seqScenario } from './scenarios/seq.mjs';
import { memoryScenario, MEMORY_TARGET_BYTES } from './scenarios/memory.mjs';
import { opsScenario } from './scenarios/ops.mjs';
import { gatewayScenario, gatewayMarkdown } from './scenarios/gateway.mjs';

const SCENARIOS = ['ops', 'tree', 'clone', 'seq', 'memory', 'gateway'];

function parseArgs(argv) {
  const o = { scenarios: [], quick: false, keep: false, json: undefined, files: undefined, seqMiB: undefined, memMiB: undefined, binding: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--keep') o.keep = true;
    else if (a === '--json') o.json = val();
    else if (a === '--files') o.files = Number(val());
    else if (a === '--seq-mib') o.seqMiB = Number(val());
    else if (a === '--mem-mib') o.memMiB = Number(val());
    else if (a === '--binding') o.binding = val();
    else if (a === '-h' || a === '--help') {
      console.log('usage: npm run bench -- [ops|tree|clone|seq|memory|gateway ...] [--quick] [--binding fuse3|fuse-native] [--files N] [--seq-mib N] [--mem-mib N] [--json FILE] [--keep]');
      process.exit(0);
    } else if (SCENARIOS.includes(a)) o.scenarios.push(a);
    else throw new Error(`unknown argument ${a} (scenarios: ${SCENARIOS.join(', ')})`);
  }
  if (o.scenarios.length === 0) o.scenarios = [...SCENARIOS];
  o.files ??= o.quick ? 500 : 5000;
  o.seqMiB ??= o.quick ? 64 : 1024;
  o.memMiB ??= o.quick ? 256 : 2048;
  return o;
}

/** Collects results; renders markdown. */
class Report {
  rows = [];
  mem = [];
  lat = [];
  latency(l) {
    this.lat.push(l);
    log(`  ops: ${l.op}: native ${l.native.toFixed(0)} µs, passthrough ${l.passthrough.toFixed(0)} µs, aether ${l.aether.toFixed(0)} µs`);
  }
  /** One timed step: native, the FUSE passthrough (`floor`) and Aether; gateway counters before/after. */
  row(scenario, step, { native, floor, aether, g0, g1, note = '', bytes }) {
    const r = { scenario, step, nativeMs: native, floorMs: floor, aetherMs: aether, ratio: aether / native, floorRatio: floor ? aether / floor : undefined, served: g1.bytesServed - g0.bytesServed, received: g1.bytesReceived - g0.bytesReceived, note, bytes };
    this.rows.push(r);
    const speed = bytes ? ` (${mbps(bytes, native).toFixed(0)} / ${floor ? mbps(bytes, floor).toFixed(0) : '-'} / ${mbps(bytes, aether).toFixed(0)} MB/s)` : '';
    log(`  ${scenario}: ${step}: native ${fmtMs(native)}, passthrough ${floor ? fmtMs(floor) : '-'}, aether ${fmtMs(aether)} → ×${r.ratio.toFixed(2)} native${speed}`);
  }
  memory(m) {
    const r = { ...m, served: m.g1.bytesServed - m.g0.bytesServed, received: m.g1.bytesReceived - m.g0.bytesReceived };
    delete r.g0;
    delete r.g1;
    this.mem.push(r);
    log(`  memory: ${m.phase}: daemon peak ${fmtBytes(m.daemonPeak)} (target < ${MEMORY_TARGET_BYTES / 1e6} MB), ${mbps(m.bytes, m.ms).toFixed(0)} MB/s`);
  }
  markdown(info, opts) {
    const out = [];
    out.push(`### Aether bench — ${info.date.slice(0, 10)}${opts.quick ? ' (--quick)' : ''}`);
    out.push('');
    out.push(`- Machine: ${info.cpu}, ${info.ram} RAM, disk ${info.disk}`);
    out.push(`- ${info.kernel}, Node ${info.node}, git ${info.git}, aether ${info.aether}; Aether's FUSE binding: **${info.binding}**; passthrough: ${info.fuse}`);
    out.push('- Native: the same commands in a temp dir on the same filesystem. FUSE passthrough: bench/passthrough.mjs, a fuse-native passthrough to that filesystem with the same mount options — the binding cost every fuse-native filesystem pays, plus one real syscall per op (Aether answers metadata from memory, so it can beat it there). Ratios are of wall time (lower is better).');
    out.push(`- Page cache dropped before cold/warm reads: ${info.pageCacheDropped ? 'yes' : 'no (not root)'}; load average at start ${info.loadAtStart}, at end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (other work on the machine skews ratios)`);
    if (this.lat.length) {
      out.push('');
      out.push('| Operation (one at a time) | Native | FUSE passthrough | Aether | Aether ÷ native |');
      out.push('| --- | ---: | ---: | ---: | ---: |');
      const us = (x) => (x >= 1000 ? `${(x / 1000).toFixed(2)} ms` : `${x.toFixed(0)} µs`);
      for (const l of this.lat) out.push(`| ${l.op} | ${us(l.native)} | ${us(l.passthrough)} | ${us(l.aether)} | ×${(l.aether / l.native).toFixed(1)} |`);
    }
    if (this.rows.length) {
      out.push('');
      out.push('| Scenario | Step | Native | FUSE passthrough | Aether | Aether ÷ native | Aether ÷ passthrough | Gateway served | Gateway received | Notes |');
      out.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
      for (const r of this.rows) {
        const t = (ms) => (ms === undefined ? '–' : r.bytes ? `${fmtMs(ms)} (${mbps(r.bytes, ms).toFixed(0)} MB/s)` : fmtMs(ms));
        out.push(
          `| ${r.scenario} | ${r.step} | ${t(r.nativeMs)} | ${t(r.floorMs)} | ${t(r.aetherMs)} | ×${r.ratio.toFixed(1)} | ${r.floorRatio === undefined ? '–' : `×${r.floorRatio.toFixed(1)}`} | ${fmtBytes(r.served)} | ${fmtBytes(r.received)} | ${r.note} |`,
        );
      }
    }
    if (this.mem.length) {
      out.push('');
      out.push(`| Memory phase | Throughput | Daemon RSS before | Daemon peak (VmHWM) | < ${MEMORY_TARGET_BYTES / 1e6} MB | Gateway peak | Gateway served | Gateway received |`);
      out.push('| --- | ---: | ---: | ---: | :---: | ---: | ---: | ---: |');
      for (const m of this.mem) {
        const ok = m.daemonPeak !== undefined && m.daemonPeak < MEMORY_TARGET_BYTES;
        out.push(`| ${m.phase} | ${mbps(m.bytes, m.ms).toFixed(0)} MB/s | ${fmtBytes(m.rssBefore)} | ${fmtBytes(m.daemonPeak)} | ${ok ? 'yes' : '**no**'} | ${fmtBytes(m.gatewayPeak)} | ${fmtBytes(m.served)} | ${fmtBytes(m.received)} |`);
      }
    }
    return out.join('\n');
  }
}

const log = (s) => process.stderr.write(s + '\n');

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!fs.existsSync('/dev/fuse')) throw new Error('no /dev/fuse: the benchmarks need a real FUSE mount');
  ensureBuilt(log);
  if (opts.binding) process.env.AETHER_FUSE_BINDING = opts.binding; // inherited by the mount daemons
  const bindings = new Set();
  const report = new Report();
  const info = machineInfo(process.env.TMPDIR ?? '/tmp');
  log(`aether bench: ${opts.scenarios.join(', ')}${opts.quick ? ' (quick)' : ''}; ${opts.files} files, seq ${opts.seqMiB} MiB, memory ${opts.memMiB} MiB`);
  let gatewayMd = '';
  for (const name of opts.scenarios) {
    if (name === 'gateway') {
      // Storage engine over HTTP, no mount: its own gateway processes (bench/scenarios/gateway.mjs).
      log('gateway…');
      gatewayMd = gatewayMarkdown(await gatewayScenario({ quick: opts.quick, before: process.env.AETHER_BENCH_BEFORE_DIST }, log));
      continue;
    }
    // A fresh gateway and temp root per scenario: no scenario warms another's caches.
    const env = await createBenchEnv({ keep: opts.keep });
    const onSignal = () => void env.teardown().finally(() => process.exit(130));
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    log(`${name}… (in ${env.root})`);
    try {
      if (name === 'ops') await opsScenario(env, { scale: opts.quick ? 0.3 : 1 }, report);
      if (name === 'tree') await treeScenario(env, { files: opts.files }, report);
      if (name === 'clone') await cloneScenario(env, { files: opts.files }, report);
      if (name === 'seq') await seqScenario(env, { bytes: opts.seqMiB * MiB }, report);
      if (name === 'memory') await memoryScenario(env, { bytes: opts.memMiB * MiB }, report);
    } finally {
      for (const b of env.bindings) bindings.add(b);
      await env.teardown();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
  info.binding = [...bindings].join(', ') || '?';
  const md = report.markdown(info, opts) + (gatewayMd ? `\n\n## Gateway storage engine\n\n${gatewayMd}\n` : '');
  console.log(md);
  if (opts.json) fs.writeFileSync(opts.json, JSON.stringify({ info, opts, rows: report.rows, latency: report.lat, memory: report.mem }, null, 2) + '\n');
}

main().catch((e) => {
  log(`bench failed: ${e.stack ?? e}`);
  process.exit(1);
});
