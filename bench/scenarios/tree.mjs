// Scenario "tree": a source-like tree of N files (default 5,000) — cp -r into the mount, then read
// every file cold (fresh mount, empty CAS cache dir: every byte comes from the gateway), warm (a
// remount with the cache populated: zero blob bytes expected) and hot (a second read in the same
// mount). Native reads the same tree from the same filesystem; the FUSE passthrough
// (bench/passthrough.mjs) reads a copy of it through fuse-native. The kernel page cache is dropped
// before every cold/warm measurement (when running as root).
import * as path from 'node:path';
import { dropCaches, makeTree, sh, fmtBytes } from '../lib.mjs';

const READ_ALL = 'find . -type f -print0 | xargs -0 cat > /dev/null';

export async function treeScenario(env, { files }, report) {
  const native = path.join(env.root, 'native-tree');
  const bytes = await makeTree(native, files);
  const label = `${files} files, ${fmtBytes(bytes)}`;
  const sid = await env.createSession({ bench: 'tree' });
  const pt = await env.passthrough(path.join(env.root, 'floor-backing'), 'floor');

  // Write: cp -r (source already in the page cache). Native and passthrough end with sync; the mount
  // needs none: every close has uploaded and the gateway has fsynced.
  await sh(`find ${native} -type f -print0 | xargs -0 cat > /dev/null`);
  const nWrite = await sh(`cp -r ${native} ${path.join(env.root, 'native-copy')} && sync`);
  const fWrite = await sh(`cp -r ${native} ${path.join(pt.mountpoint, 'tree')} && sync`);
  let m = await env.mount(sid, 'mnt-tree', { cacheDir: path.join(env.root, 'cache-tree-writer') });
  let g0 = await env.metrics();
  const aWrite = await sh(`cp -r ${native} ${path.join(m.mountpoint, 'tree')}`);
  await m.stop();
  let g1 = await env.metrics();
  report.row('tree', `cp -r into the mount (${label})`, { native: nWrite.ms, floor: fWrite.ms, aether: aWrite.ms, g0, g1, note: 'native, passthrough: cp -r && sync; mount: every close uploads' });

  await dropCaches();
  const nCold = await sh(READ_ALL, { cwd: native });
  const nHot = await sh(READ_ALL, { cwd: native });
  await dropCaches();
  const fCold = await sh(READ_ALL, { cwd: path.join(pt.mountpoint, 'tree') });
  const fHot = await sh(READ_ALL, { cwd: path.join(pt.mountpoint, 'tree') });
  await pt.stop();

  // Cold: a fresh, empty CAS cache dir.
  const cacheDir = path.join(env.root, 'cache-tree-reader');
  m = await env.mount(sid, 'mnt-tree', { cacheDir });
  await dropCaches();
  g0 = await env.metrics();
  const aCold = await sh(READ_ALL, { cwd: path.join(m.mountpoint, 'tree') });
  g1 = await env.metrics();
  report.row('tree', 'cold read: empty CAS cache (others: page cache dropped)', { native: nCold.ms, floor: fCold.ms, aether: aCold.ms, g0, g1, note: 'listings, extents and every blob from the gateway' });
  await m.stop();

  // Warm: remount, the cache now holds every blob.
  m = await env.mount(sid, 'mnt-tree', { cacheDir });
  await dropCaches();
  g0 = await env.metrics();
  const aWarm = await sh(READ_ALL, { cwd: path.join(m.mountpoint, 'tree') });
  g1 = await env.metrics();
  report.row('tree', 'warm read: remount, CAS cache populated (page cache dropped)', { native: nCold.ms, floor: fCold.ms, aether: aWarm.ms, g0, g1, note: 'listings from the gateway, bytes from the local CAS' });

  // Hot: same mount again, nothing dropped.
  g0 = await env.metrics();
  const aHot = await sh(READ_ALL, { cwd: path.join(m.mountpoint, 'tree') });
  g1 = await env.metrics();
  report.row('tree', 'hot read: same mount again (page cache kept)', { native: nHot.ms, floor: fHot.ms, aether: aHot.ms, g0, g1, note: 'fuse3 keeps file pages across opens (kernel_cache); fuse-native drops them on every open' });
  await m.stop();
}
