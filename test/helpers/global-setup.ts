// Builds dist/ once before the suite when it is missing or older than src/: mount tests run the
// real daemon and gateway as separate processes from the compiled output.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

function newest(dir: string): number {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

export default function setup(): void {
  const root = path.resolve(import.meta.dirname, '../..');
  const marker = path.join(root, 'dist', 'cli', 'daemon', 'daemon-entry.js');
  const stale = !fs.existsSync(marker) || newest(path.join(root, 'src')) > fs.statSync(marker).mtimeMs;
  if (stale) execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
}
