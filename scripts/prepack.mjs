// `npm pack` / `npm publish` hook (package.json "prepack"): build the package from scratch so the
// tarball holds exactly what the sources produce — dist/ by tsc and the prebuilt libfuse3 addon
// (native/build/Release/aether_fuse3.node, linux-x64 glibc, N-API 8 so one build serves every
// Node ≥ 20). Stale files from earlier builds never get in: dist/ and native/build/ are removed
// first. Fails (non-zero) when either build fails or the addon does not load, so a tarball never
// ships without the fast binding.
// It also writes npm-shrinkwrap.json (a copy of package-lock.json): a global install then gets
// exactly the dependency versions this tree was tested with — better-sqlite3's native addon among
// them — instead of whatever the ranges resolve to that day. `postpack` (scripts/postpack.mjs)
// removes it again.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const run = (what, cmd, args) => {
  // Build output goes to stderr: `npm pack --json` keeps stdout for its JSON.
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 2, 2] });
  if (r.status !== 0) {
    console.error(`prepack: ${what} failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
};
fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
fs.rmSync(path.join(root, 'native', 'build'), { recursive: true, force: true });
run('tsc', process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.json')]);
run('the libfuse3 addon build (needs libfuse3-dev, pkg-config, python3, make, a C compiler)', process.execPath, [path.join(root, 'native', 'build.mjs')]);
fs.copyFileSync(path.join(root, 'package-lock.json'), path.join(root, 'npm-shrinkwrap.json'));
const addon = path.join(root, 'native', 'build', 'Release', 'aether_fuse3.node');
try {
  const n = createRequire(import.meta.url)(addon);
  console.error(`prepack: libfuse3 addon built against libfuse ${n.libfuseVersion} (API ${n.fuseUseVersion})`);
} catch (e) {
  console.error(`prepack: the built addon does not load: ${e.message}`);
  process.exit(1);
}
