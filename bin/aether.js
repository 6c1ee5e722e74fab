#!/usr/bin/env node
// Shim: the real entry point is the compiled CLI composition root.
import('../dist/cli/main.js').then((m) => m.run(process.argv.slice(2)));
