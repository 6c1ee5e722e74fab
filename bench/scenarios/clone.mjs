// Scenario "clone": git clone of a local repository of N files (default 5,000; packed, cloned with
// --no-hardlinks so the native side copies too), git status in it (twice: the first refreshes the
// index stat cache), and rm -rf of it — in a native directory, through the FUSE passthrough, and in the
// mount.
import * as path from 'node:path';
import { makeTree, sh } from '../lib.mjs';

const GIT = 'git -c user.name=bench -c user.email=bench@example.invalid -c gc.auto=0';

export async function cloneScenario(env, { files }, report) {
  const origin = path.join(env.root, 'origin');
  await makeTree(origin, files, 7);
  await sh(`${GIT} init -q -b main && ${GIT} add -A && ${GIT} commit -q -m initial && ${GIT} gc -q`, { cwd: origin });
  const label = `${files}-file repo`;
  const steps = [
    ['git clone', (dir) => sh(`${GIT} clone -q --no-hardlinks ${origin} repo`, { cwd: dir })],
    ['git status (1st)', (dir) => sh(`${GIT} status --porcelain > /dev/null`, { cwd: path.join(dir, 'repo') })],
    ['git status (2nd)', (dir) => sh(`${GIT} status --porcelain > /dev/null`, { cwd: path.join(dir, 'repo') })],
    ['rm -rf', (dir) => sh(`rm -rf repo`, { cwd: dir })],
  ];
  await sh(`cat ${origin}/.git/objects/pack/* > /dev/null`);

  const nativeParent = path.join(env.root, 'native-clones');
  await sh(`mkdir -p ${nativeParent}`);
  const native = {};
  for (const [name, fn] of steps) native[name] = (await fn(nativeParent)).ms;

  const pt = await env.passthrough(path.join(env.root, 'floor-backing'), 'floor');
  const floor = {};
  for (const [name, fn] of steps) floor[name] = (await fn(pt.mountpoint)).ms;
  await pt.stop();

  const sid = await env.createSession({ bench: 'clone' });
  const m = await env.mount(sid, 'mnt-clone');
  for (const [name, fn] of steps) {
    const g0 = await env.metrics();
    const a = await fn(m.mountpoint);
    const g1 = await env.metrics();
    report.row('clone', `${name} (${label})`, { native: native[name], floor: floor[name], aether: a.ms, g0, g1 });
  }
  await m.stop();
}
