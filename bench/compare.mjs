// Runs one list of steps on every target (native, peers, Aether) for N repetitions and hands the
// report each step's times, shipping lags and load averages. Order: per repetition, every target
// in turn, native first (its final state after each step is what the others must ship: see
// targets.mjs shippedAt), so slow load spikes spread over all targets instead of one.
// A target that fails to start is dropped with its reason (shown in the table); a step that fails
// on a peer is recorded for that peer (the rest of that repetition is skipped, the tree reset before
// the next one; medians are over the repetitions that succeeded), never stops the run; a failure on native or
// Aether is fatal (the comparison would be meaningless).
// Callers: bench/scenarios/{nodemodules,gitrepo,treeread}.mjs.
import * as os from 'node:os';
import { treeState } from './targets.mjs';

const load1 = () => os.loadavg()[0];

/** Start every target; returns the started ones, reporting the others as unavailable. */
export async function startTargets(env, targets, scenario, report, log) {
  const ok = [];
  for (const t of targets) {
    env.defer(() => t.stop()); // stopped at teardown even when the scenario throws or ctrl-C
    try {
      await t.start();
      ok.push(t);
    } catch (e) {
      if (t.name === 'native' || t.name === 'aether') throw e;
      log(`  ${scenario}: ${t.name} unavailable: ${String(e.message).split('\n')[0]}`);
      report.unavailable(scenario, t.name, String(e.message).split('\n')[0]);
      await t.stop().catch(() => undefined);
    }
  }
  return ok;
}

/**
 * steps: [{name, run(t) → Promise, expect?: rel path whose final state is compared for the lag,
 *          prepare?(t) → Promise (untimed, e.g. remount and drop caches), after?(t, ms)}];
 * reset?(t): cleans a peer's tree after a failed repetition, before its next one.
 * Calls report.compare(scenario, step, {times: {target: [ms…]}, lags: {target: [lag…]}, …}).
 */
export async function runComparison({ scenario, targets, steps, reps, report, log, label = '', reset }) {
  const native = targets[0];
  if (native?.name !== 'native') throw new Error('runComparison: the native target must come first');
  const res = steps.map(() => ({ times: {}, lags: {}, failed: {}, notes: {}, load: [] }));
  const reference = []; // native's tree after each step in the current repetition: what must ship
  const dead = new Set(); // peers that failed a step in this repetition: later steps would run on a broken tree
  const gone = new Set(); // peers whose failed tree could not be reset: skipped from then on
  for (let rep = 0; rep < reps; rep++) {
    for (const t of targets) {
      if (dead.has(t.name) && !gone.has(t.name)) {
        // The last repetition failed half-way: clean up (untimed, after a pause for write-back).
        await new Promise((r) => setTimeout(r, 10_000));
        try {
          await reset?.(t);
          dead.delete(t.name);
        } catch (e) {
          gone.add(t.name);
          log(`  ${scenario}: ${t.name}: cannot reset after a failure, skipped from now on: ${String(e.message).split('\n')[0]}`);
        }
      }
      for (let i = 0; i < steps.length; i++) {
        const s = steps[i];
        const r = res[i];
        if (dead.has(t.name) || gone.has(t.name)) {
          if (!r.times[t.name]) r.failed[t.name] ??= 'skipped: an earlier step failed';
          continue;
        }
        try {
          if (s.prepare) await s.prepare(t);
          r.load.push(load1());
          const t0 = process.hrtime.bigint();
          await s.run(t);
          const ms = Number(process.hrtime.bigint() - t0) / 1e6;
          (r.times[t.name] ??= []).push(ms);
          if (s.expect && t === native) reference[i] = await treeState(native.dir, s.expect);
          if (s.expect && t.shippedAt) {
            // A target whose tree legitimately differs from native (rclone: git writes
            // core.symlinks=false into .git/config there) is compared with its own mount's view,
            // walked after the step: its lag then includes that walk.
            const t1 = process.hrtime.bigint();
            const want = t.ownReference ? await treeState(t.dir, s.expect) : reference[i];
            const lag = await t.shippedAt(s.expect, want, t1);
            (r.lags[t.name] ??= []).push(lag);
          }
          if (s.after) {
            const note = await s.after(t, ms);
            if (note) r.notes[t.name] = note;
          }
          const lag = r.lags[t.name]?.at(-1);
          log(`  ${scenario}: ${s.name} [${t.name}, rep ${rep + 1}/${reps}]: ${(ms / 1000).toFixed(2)} s${lag ? `, shipped after ${(lag.ms / 1000).toFixed(2)} s${lag.ok ? '' : ` (NOT all: ${lag.differing} entries differ: ${lag.sample.join('; ')})`}` : ''} (load ${load1().toFixed(2)})`);
        } catch (e) {
          if (t.name === 'native' || t.name === 'aether') throw e;
          dead.add(t.name);
          (r.failures ??= {})[t.name] = (r.failures[t.name] ?? 0) + 1;
          r.failed[t.name] = String(e.message).split('\n').slice(0, 3).join(' ').slice(0, 300);
          log(`  ${scenario}: ${s.name} [${t.name}] FAILED: ${r.failed[t.name]}`);
        }
      }
    }
    // After every repetition, so an interrupted run still reports the repetitions it finished.
    for (let i = 0; i < steps.length; i++) report.compare(scenario, `${steps[i].name}${label}`, { ...res[i], reps: rep + 1 }, rep + 1 < reps);
  }
}
