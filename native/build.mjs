// Builds native/build/Release/aether_fuse3.node with node-gyp, offline: node-gyp is told where
// this Node's own headers live (a distribution package puts them in /usr/include/node, the official
// tarball in <prefix>/include/node), so it never downloads a header tarball. Uses the node-gyp npm
// ships (npm run sets npm_config_node_gyp; else the copy bundled with this node's npm), else one
// on PATH.
// Needs: a C compiler, make, python3, pkg-config and libfuse3-dev.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const candidates = [
  process.env.npm_config_nodedir,
  path.resolve(path.dirname(process.execPath), '..'),
  process.config.variables.node_prefix,
];
const nodedir = candidates.find((d) => d && fs.existsSync(path.join(d, 'include', 'node', 'node_api.h')));
// node-gyp: the one npm run points at, else npm's bundled copy next to this node, else PATH.
const prefix = path.resolve(path.dirname(process.execPath), '..');
const gyp = [
  process.env.npm_config_node_gyp,
  path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  path.join(prefix, 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].find((p) => p && fs.existsSync(p));
const [cmd, pre] = gyp && gyp.endsWith('.js') ? [process.execPath, [gyp]] : [gyp || 'node-gyp', []];
const args = [...pre, 'rebuild', '--directory', here, ...(nodedir ? [`--nodedir=${nodedir}`] : []), ...process.argv.slice(2)];
const child = spawn(cmd, args, { stdio: 'inherit' });
child.on('exit', (code, signal) => {
  process.exitCode = code ?? (signal ? 1 : 0);
});
child.on('error', (e) => {
  console.error(`could not run node-gyp: ${e.message}`);
  process.exitCode = 1;
});
