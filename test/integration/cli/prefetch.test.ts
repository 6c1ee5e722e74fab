// CLI in-process: `aether prefetch` fills the local CAS cache from the gateway once, then finds
// everything cached; the gateway's bytesServed proves the second run downloads nothing.
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCliHarness, type CliHarness } from './harness.js';
import { DiskCas } from '../../../src/cas/disk-cas.js';
import { createHash } from 'node:crypto';

let h: CliHarness;
let sid: string;
const files: Record<string, string> = {};
beforeAll(async () => {
  h = await startCliHarness();
  sid = await h.newSession();
  for (let i = 0; i < 20; i++) files[`/src/f${i}.txt`] = `file ${i} `.repeat(100 + i);
  files['/src/dup.txt'] = files['/src/f3.txt']!; // duplicate content: one blob
  files['/docs/readme.md'] = '# docs\n';
  await h.writeFiles(sid, files);
});
afterAll(async () => {
  await h?.close();
});

const served = async () => Number((await h.gw.call('GET', '/v1/metrics/cas')).body.bytesServed);

describe('prefetch', () => {
  it('fetches every blob under a path once, verifies and caches it', async () => {
    const s0 = await served();
    const r = await h.run(['prefetch', '/src', '--session', sid, '--json']);
    expect(r.code).toBe(0);
    const out = r.json();
    expect(out).toMatchObject({ sessionId: sid, path: '/src', files: 21, blobs: 20, fetched: 20, alreadyCached: 0 });
    expect((await served()) - s0).toBe(out.bytesFetched);
    const cas = await DiskCas.open({ dir: path.join(h.home, 'cache', 'cas'), maxBytes: 1 << 30 });
    try {
      const hash = 'sha256:' + createHash('sha256').update(files['/src/f7.txt']!).digest('hex');
      expect((await cas.get(hash))?.toString()).toBe(files['/src/f7.txt']);
    } finally {
      await cas.close();
    }
    const again = await h.run(['prefetch', '/src', '--session', sid, '--json']);
    expect(again.json()).toMatchObject({ fetched: 0, alreadyCached: 20 });
    expect((await served()) - s0).toBe(out.bytesFetched);
    const human = await h.run(['prefetch', '--session', sid]);
    expect(human.out).toMatch(/22 files, 21 blobs: 1 fetched .* 20 already cached/);
  });

  it('an unknown session exits 3', async () => {
    expect((await h.run(['prefetch', '--session', 'sess_nope'])).code).toBe(3);
  });
});
