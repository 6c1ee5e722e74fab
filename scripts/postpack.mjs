// `npm pack` / `npm publish` hook (package.json "postpack"): remove the npm-shrinkwrap.json that
// scripts/prepack.mjs wrote for the tarball, so the working tree keeps package-lock.json only.
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
fs.rmSync(path.join(root, 'npm-shrinkwrap.json'), { force: true });
