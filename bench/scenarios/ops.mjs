// Scenario "ops": latency of single system calls (bench/op-latency.mjs, one call at a time) on
// native disk, through the fuse-native passthrough and in an Aether mount. Shows the per-request
// cost of the binding and which operations wait for a gateway round trip.
import * as path from 'node:path';
import { sh, ROOT } from '../lib.mjs';

export async function opsScenario(env, { scale }, report) {
  const probe = async (dir) => JSON.parse((await sh(`${process.execPath} ${path.join(ROOT, 'bench', 'op-latency.mjs')} ${dir} ${scale}`)).out.trim());
  const nativeDir = path.join(env.root, 'native-ops');
  await sh(`mkdir -p ${nativeDir}`);
  const native = await probe(nativeDir);
  const pt = await env.passthrough(path.join(env.root, 'floor-backing'), 'floor');
  const passthrough = await probe(pt.mountpoint);
  await pt.stop();
  const sid = await env.createSession({ bench: 'ops' });
  const m = await env.mount(sid, 'mnt-ops');
  const aether = await probe(m.mountpoint);
  await m.stop();
  for (const op of Object.keys(native)) report.latency({ op, native: native[op], passthrough: passthrough[op], aether: aether[op] });
}
