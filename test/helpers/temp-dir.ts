// Temp directories for tests, removed by the returned cleanup function.
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

export async function makeTempDir(prefix = 'aether-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
}
