// The benchmark report: collects rows from the scenarios and renders them as markdown tables (and
// the same data as JSON). Two table families: the original native / FUSE passthrough / Aether rows
// (ops, tree, clone, seq, memory) and the peer comparison rows (nodemodules, gitrepo, treeread):
// medians over repetitions for native, sshfs, rclone and Aether, Aether ÷ native, Aether ÷ best
// peer, the shipping lag of each remote system and the 1-minute load average while the step ran.
// Callers: bench/run.mjs (owns the Report), bench/scenarios/*.mjs (add rows), bench/compare.mjs.
import * as os from 'node:os';
import { fmtMs, fmtBytes, mbps } from './lib.mjs';
import { MEMORY_TARGET_BYTES } from './scenarios/memory.mjs';

const log = (s) => process.stderr.write(s + '\n');

export const median = (xs) => {
  if (!xs?.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const PEER_NAMES = ['sshfs', 'rclone'];

/** Collects results; renders markdown. */
export class Report {
  rows = [];
  mem = [];
  lat = [];
  /** Peer comparison rows and peers that could not be used ({scenario, peer, reason}). */
  cmp = [];
  missing = [];
  /** installPeers() results, for the header. */
  peers = {};
  notes = [];
  /** A line for the header (e.g. which repository a scenario used). */
  note(s) {
    this.notes.push(s);
  }
  unavailable(scenario, peer, reason) {
    this.missing.push({ scenario, peer, reason });
  }
  /** One step on every target: times/lags are per-target arrays over repetitions. */
  compare(scenario, step, { times, lags, failed, failures = {}, notes, load, reps }, partial = false) {
    const med = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
    const lagMed = Object.fromEntries(Object.entries(lags).map(([k, v]) => [k, { ms: median(v.map((l) => l.ms)), allShipped: v.every((l) => l.ok), sample: v.find((l) => !l.ok)?.sample }]));
    const peerMs = PEER_NAMES.map((p) => med[p]).filter((x) => x !== undefined);
    const best = peerMs.length ? Math.min(...peerMs) : undefined;
    const r = { scenario, step, reps, times: structuredClone(times), median: med, lags: lagMed, failed, failures, notes, load: { min: Math.min(...load), max: Math.max(...load) } };
    r.ratioNative = med.aether / med.native;
    r.ratioBestPeer = best ? med.aether / best : undefined;
    // Rows are replaced as repetitions finish (an interrupted run prints what it has).
    const at = this.cmp.findIndex((x) => x.scenario === scenario && x.step === step);
    if (at >= 0) this.cmp[at] = r;
    else this.cmp.push(r);
    if (partial) return;
    log(`  ${scenario}: ${step}: medians ${Object.entries(med).map(([k, v]) => `${k} ${fmtMs(v)}`).join(', ')} → Aether ×${r.ratioNative.toFixed(1)} native${best ? `, ×${r.ratioBestPeer.toFixed(1)} best peer` : ''}`);
  }
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
    if (this.cmp.length) this.compareMarkdown(out);
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
  compareMarkdown(out) {
    const peers = PEER_NAMES.filter((p) => this.cmp.some((r) => r.times[p] || r.failed[p]) || this.peers[p]);
    out.push('');
    for (const p of PEER_NAMES) {
      const st = this.peers[p];
      if (st && !st.ok) out.push(`- Peer **${p}** not measured: ${st.reason}`);
    }
    for (const n of this.notes) out.push(`- ${n}`);
    for (const m of this.missing) out.push(`- Peer **${m.peer}** unavailable in ${m.scenario}: ${m.reason}`);
    out.push(`- Peers: ${peers.length ? peers.join(', ') : 'none'} (sshfs over a throwaway loopback sshd; rclone \`mount --vfs-cache-mode full\` over a loopback \`rclone serve sftp\`). Times are medians over n repetitions; the shipping lag is the time from the step's end until the far side (the sftp backing dir, the Aether gateway's manifest) holds exactly the native tree (paths and sizes, polled every 100 ms, so ~0 reads as one poll).`);
    out.push('');
    const cols = ['native', ...peers, 'aether'];
    const lagCols = [...peers, 'aether'];
    out.push(`| Scenario | Step | ${cols.map((c) => (c === 'aether' ? 'Aether' : c === 'native' ? 'Native' : c)).join(' | ')} | Aether ÷ native | Aether ÷ best peer | Shipping lag (${lagCols.map((c) => (c === 'aether' ? 'Aether' : c)).join(' / ')}) | n | Load (1 min) | Notes |`);
    out.push(`| --- | --- | ${cols.map(() => '---:').join(' | ')} | ---: | ---: | ---: | ---: | ---: | --- |`);
    for (const r of this.cmp) {
      const cell = (c) => (r.median[c] !== undefined ? fmtMs(r.median[c]) : r.failed[c] ? 'failed' : '–');
      const lag = (c) => {
        const l = r.lags[c];
        if (!l) return '–';
        return l.allShipped ? fmtMs(l.ms) : `> ${fmtMs(l.ms)} (incomplete)`;
      };
      const unshipped = Object.entries(r.lags).filter(([, l]) => !l.allShipped).map(([k, l]) => `${k} never matched native, e.g. ${l.sample?.[0] ?? '?'}`);
      const notes = [...Object.entries(r.failed).map(([k, v]) => `${k}: ${r.failures[k] ? `${r.failures[k]} of ${r.reps} runs failed: ` : ''}${v}`), ...unshipped, ...Object.entries(r.notes).map(([k, v]) => `${k}: ${v}`)].join('; ').replace(/\|/g, '\\|');
      out.push(
        `| ${r.scenario} | ${r.step.replace(/\|/g, '\\|')} | ${cols.map(cell).join(' | ')} | ${Number.isFinite(r.ratioNative) ? `×${r.ratioNative.toFixed(1)}` : '–'} | ${r.ratioBestPeer ? `×${r.ratioBestPeer.toFixed(2)}` : '–'} | ${lagCols.map(lag).join(' / ')} | ${r.reps} | ${r.load.min.toFixed(1)}–${r.load.max.toFixed(1)} | ${notes} |`,
      );
    }
  }
}

