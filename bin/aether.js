#!/usr/bin/env node
// Shim: the real entry point is the compiled CLI composition root (src/cli/main.ts → dist/cli/main.js).
import('../dist/cli/main.js').then(
  (m) => m.run(process.argv.slice(2)),
  (err) => {
    process.stderr.write(`aether: cannot load the CLI (${err && err.code === 'ERR_MODULE_NOT_FOUND' ? 'not built' : err}).\nhint: run \`npm run build\` in the aether package\n`);
    process.exitCode = 1;
  },
);
