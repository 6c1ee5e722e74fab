// Scenario "memory": the mount daemon's peak resident memory (VmHWM from /proc/<pid>/status) while
// streaming one large file (default 2 GiB of random bytes) in and out: a write (dd from
// /dev/urandom, then fsync = upload), a cold read (fresh mount, empty cache: streamed from the
// gateway) and a warm read (from the local CAS). The peak is reset (clear_refs 5) before each
// phase. Target: < 200 MB. The gateway's peak is shown for context.
import * as path from 'node:path';
import { dropCaches, procStatusBytes, resetPeak, sh, MiB } from '../lib.mjs';

export const MEMORY_TARGET_BYTES = 200 * 1000 * 1000;

export async function memoryScenario(env, { bytes }, report) {
  const count = Math.ceil(bytes / MiB);
  const sid = await env.createSession({ bench: 'memory' });
  const measure = async (phase, m, cmd) => {
    const base = procStatusBytes(m.pid, 'VmRSS');
    resetPeak(m.pid);
    resetPeak(env.gatewayPid);
    const g0 = await env.metrics();
    const r = await sh(cmd);
    const g1 = await env.metrics();
    report.memory({ phase: `${phase} (${count} MiB)`, ms: r.ms, bytes, rssBefore: base, daemonPeak: procStatusBytes(m.pid, 'VmHWM'), gatewayPeak: procStatusBytes(env.gatewayPid, 'VmHWM'), g0, g1 });
  };
  let m = await env.mount(sid, 'mnt-mem', { cacheDir: path.join(env.root, 'cache-mem-writer') });
  const file = path.join(m.mountpoint, 'huge.bin');
  await measure('write', m, `dd if=/dev/urandom of=${file} bs=1M count=${count} conv=fsync status=none`);
  await m.stop();

  m = await env.mount(sid, 'mnt-mem', { cacheDir: path.join(env.root, 'cache-mem-reader') });
  await dropCaches();
  await measure('cold read', m, `dd if=${file} of=/dev/null bs=1M status=none`);
  await dropCaches();
  await measure('warm read', m, `dd if=${file} of=/dev/null bs=1M status=none`);
  await m.stop();
}
