#!/usr/bin/env node
// Aether benchmarks (on demand, never in CI): the same work on a real mount and on native disk (a
// temp dir on the same filesystem), reported as markdown tables of times, ratios and gateway
// byte counters, plus the mount daemon's peak memory while streaming a large file; and real-tree
// scenarios against real peers (sshfs, rclone; bench/peers.mjs installs and starts them).
//
//   npm run bench                      # every scenario, full size
//   npm run bench -- --quick           # small sizes: a sanity run
//   npm run bench -- clone seq         # selected scenarios (ops, tree, clone, seq, memory, nodemodules, gitrepo, treeread)
//   npm run bench -- --binding fuse-native  # force a FUSE binding (default: the daemon's choice)
//   npm run bench -- --files 2000 --seq-mib 512 --mem-mib 1024 --json out.json --keep
//   npm run bench -- nodemodules gitrepo --peers sshfs,rclone --reps 3 --repo /path/to/repo.git
//   npm run bench -- gitrepo --no-peers  # native and Aether only
//
// Needs /dev/fuse; run as root so the page cache can be dropped between cold measurements.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { createBenchEnv, ensureBuilt, machineInfo, MiB } from './lib.mjs';
import { Report } from './report.mjs';
import { PEERS, installPeers } from './peers.mjs';
import { treeScenario } from './scenarios/tree.mjs';
import { cloneScenario } from './scenarios/clone.mjs';
import { seqScenario } from './scenarios/seq.mjs';
import { memoryScenario } from './scenarios/memory.mjs';
import { nodemodulesScenario } from './scenarios/nodemodules.mjs';
import { gitrepoScenario } from './scenarios/gitrepo.mjs';
import { treereadScenario } from './scenarios/treeread.mjs';
import { opsScenario } from './scenarios/ops.mjs';
import { gatewayScenario, gatewayMarkdown } from './scenarios/gateway.mjs';

const SCENARIOS = ['ops', 'tree', 'clone', 'seq', 'memory', 'gateway', 'nodemodules', 'gitrepo', 'treeread'];
const PEER_SCENARIOS = ['nodemodules', 'gitrepo', 'treeread'];
const USAGE = `usage: npm run bench -- [${SCENARIOS.join('|')} ...] [--quick] [--binding fuse3|fuse-native]
    [--files N] [--seq-mib N] [--mem-mib N] [--json FILE] [--keep]
    [--peers sshfs,rclone | --no-peers] [--reps N] [--nm-files N] [--repo PATH] [--repo-from REV]
  --peers       peers for ${PEER_SCENARIOS.join(', ')} (default: sshfs,rclone; installed with apt when missing)
  --reps        repetitions per step of those scenarios, medians reported (default 3; --quick 1)
  --nm-files    files of node_modules for nodemodules (default 5000)
  --repo        git repository for gitrepo/treeread (also AETHER_BENCH_REPO; default: the largest
                bare repo under /work/.mirror with >= 4000 files, else a synthetic one)
  --repo-from   the distant revision gitrepo checks out (default: HEAD~2000 first-parent, bounded)
  --full-history  clone the whole repository (default: a shallow copy with HEAD and that revision)`;

function parseArgs(argv) {
  const o = { scenarios: [], quick: false, keep: false, json: undefined, files: undefined, seqMiB: undefined, memMiB: undefined, binding: undefined, peers: [...PEERS], reps: undefined, nmFiles: undefined, repo: process.env.AETHER_BENCH_REPO, repoFrom: undefined, fullHistory: false };
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
    else if (a === '--no-peers') o.peers = [];
    else if (a === '--peers') {
      o.peers = val().split(',').map((x) => x.trim()).filter(Boolean);
      for (const p of o.peers) if (!PEERS.includes(p)) throw new Error(`unknown peer ${p} (peers: ${PEERS.join(', ')})`);
    } else if (a === '--reps') o.reps = Number(val());
    else if (a === '--nm-files') o.nmFiles = Number(val());
    else if (a === '--repo') o.repo = val();
    else if (a === '--repo-from') o.repoFrom = val();
    else if (a === '--full-history') o.fullHistory = true;
    else if (a === '-h' || a === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else if (SCENARIOS.includes(a)) o.scenarios.push(a);
    else throw new Error(`unknown argument ${a} (scenarios: ${SCENARIOS.join(', ')})`);
  }
  if (o.scenarios.length === 0) o.scenarios = [...SCENARIOS];
  o.files ??= o.quick ? 500 : 5000;
  o.seqMiB ??= o.quick ? 64 : 1024;
  o.memMiB ??= o.quick ? 256 : 2048;
  o.reps ??= o.quick ? 1 : 3;
  o.nmFiles ??= o.quick ? 500 : 5000;
  for (const [k, v] of [['--reps', o.reps], ['--nm-files', o.nmFiles], ['--files', o.files]]) if (!Number.isInteger(v) || v < 1) throw new Error(`${k} must be a positive integer`);
  return o;
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
  let peers = {};
  if (opts.scenarios.some((s) => PEER_SCENARIOS.includes(s)) && opts.peers.length) {
    peers = await installPeers(opts.peers, log);
    for (const [p, st] of Object.entries(peers)) if (!st.ok) log(`peer ${p} not available: ${st.reason}`);
  }
  report.peers = peers;
  const peerOpts = { peers, reps: opts.reps, log, quick: opts.quick, repo: opts.repo, repoFrom: opts.repoFrom, fullHistory: opts.fullHistory };
  for (const name of opts.scenarios) {
    if (name === 'gateway') {
      // Storage engine over HTTP, no mount: its own gateway processes (bench/scenarios/gateway.mjs).
      log('gateway…');
      gatewayMd = gatewayMarkdown(await gatewayScenario({ quick: opts.quick, before: process.env.AETHER_BENCH_BEFORE_DIST }, log));
      continue;
    }
    // A fresh gateway and temp root per scenario: no scenario warms another's caches.
    const env = await createBenchEnv({ keep: opts.keep });
    // Ctrl-C: stop every mount and server, then print what the finished repetitions measured.
    const onSignal = () => {
      interrupted = true;
      void env
        .teardown()
        .then(() => {
          for (const b of env.bindings) bindings.add(b);
          emit(report, info, opts, bindings, true);
        })
        .finally(() => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    log(`${name}… (in ${env.root})`);
    try {
      if (name === 'ops') await opsScenario(env, { scale: opts.quick ? 0.3 : 1 }, report);
      if (name === 'tree') await treeScenario(env, { files: opts.files }, report);
      if (name === 'clone') await cloneScenario(env, { files: opts.files }, report);
      if (name === 'seq') await seqScenario(env, { bytes: opts.seqMiB * MiB }, report);
      if (name === 'memory') await memoryScenario(env, { bytes: opts.memMiB * MiB }, report);
      if (name === 'nodemodules') await nodemodulesScenario(env, { ...peerOpts, files: opts.nmFiles }, report);
      if (name === 'gitrepo') await gitrepoScenario(env, peerOpts, report);
      if (name === 'treeread') await treereadScenario(env, peerOpts, report);
    } finally {
      for (const b of env.bindings) bindings.add(b);
      await env.teardown();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
  emit(report, info, opts, bindings, false);
}

function emit(report, info, opts, bindings, interrupted) {
  info.binding = [...bindings].join(', ') || '?';
  if (interrupted) info.interrupted = true;
  const md = report.markdown(info, opts) + (report.extraMd ?? '');
  console.log(interrupted ? `${md}\n\n(interrupted: rows show the repetitions that finished)` : md);
  if (opts.json) fs.writeFileSync(opts.json, JSON.stringify({ info: { ...info, loadAtEnd: os.loadavg().map((x) => x.toFixed(2)).join(' ') }, opts, rows: report.rows, latency: report.lat, memory: report.mem, peers: report.peers, comparisons: report.cmp, unavailable: report.missing }, null, 2) + '\n');
}

let interrupted = false; // ctrl-C: the signal handler tears down, reports and exits

main().catch((e) => {
  if (interrupted) return; // a workload killed by the teardown is not a failure to report
  log(`bench failed: ${e.stack ?? e}`);
  process.exit(1);
});
