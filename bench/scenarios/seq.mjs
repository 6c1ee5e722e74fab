// Scenario "seq": sequential write and read of one large file (default 1 GiB of random bytes) with
// dd bs=1M. Writes end with fsync (conv=fsync) everywhere: on native disk and through the passthrough
// that is the flush to the device, on the mount it is the upload to the gateway. Reads drop the
// page cache first; the mount is read warm (blobs seeded into the local CAS by the upload) and cold
// (a fresh mount with an empty cache: every byte streamed from the gateway).
import * as path from 'node:path';
import { dropCaches, makeRandomFile, sh, MiB } from '../lib.mjs';

export async function seqScenario(env, { bytes }, report) {
  const src = path.join(env.root, 'seq-src.bin');
  await makeRandomFile(src, bytes);
  const label = `${Math.ceil(bytes / MiB)} MiB`;
  const warmSrc = () => sh(`cat ${src} > /dev/null`);
  const write = (dst) => sh(`dd if=${src} of=${dst} bs=1M conv=fsync status=none`);
  const read = (file) => sh(`dd if=${file} of=/dev/null bs=1M status=none`);

  const nativeFile = path.join(env.root, 'seq-native.bin');
  await warmSrc();
  const nWrite = await write(nativeFile);
  await dropCaches();
  const nRead = await read(nativeFile);
  await sh(`rm -f ${nativeFile}`);

  const pt = await env.passthrough(path.join(env.root, 'floor-backing'), 'floor');
  await warmSrc();
  const fWrite = await write(path.join(pt.mountpoint, 'big.bin'));
  await dropCaches();
  const fRead = await read(path.join(pt.mountpoint, 'big.bin'));
  await pt.stop();
  await sh(`rm -rf ${path.join(env.root, 'floor-backing')}`);

  const sid = await env.createSession({ bench: 'seq' });
  let m = await env.mount(sid, 'mnt-seq', { cacheDir: path.join(env.root, 'cache-seq') });
  const file = path.join(m.mountpoint, 'big.bin');
  await warmSrc();
  let g0 = await env.metrics();
  const aWrite = await write(file);
  let g1 = await env.metrics();
  report.row('seq', `write ${label} (dd bs=1M conv=fsync)`, { native: nWrite.ms, floor: fWrite.ms, aether: aWrite.ms, g0, g1, bytes, note: 'fsync = upload to the gateway' });

  await dropCaches();
  g0 = await env.metrics();
  const aWarm = await read(file);
  g1 = await env.metrics();
  report.row('seq', `read ${label}, warm CAS cache`, { native: nRead.ms, floor: fRead.ms, aether: aWarm.ms, g0, g1, bytes, note: 'page cache dropped everywhere' });
  await m.stop();

  m = await env.mount(sid, 'mnt-seq', { cacheDir: path.join(env.root, 'cache-seq-cold') });
  await dropCaches();
  g0 = await env.metrics();
  const aCold = await read(file);
  g1 = await env.metrics();
  report.row('seq', `read ${label}, cold (empty CAS cache)`, { native: nRead.ms, floor: fRead.ms, aether: aCold.ms, g0, g1, bytes, note: 'every blob fetched from the gateway' });
  await m.stop();
  await sh(`rm -f ${src}`);
}
