// The attribute-cache race of issue 10 ("tenth case"): after a change through the HTTP API, a read
// in the mount returned the new bytes with the old size ("new" of "new content"). Cause: the
// watcher marks the file stale in the core and drops the kernel's attributes and pages, but the
// next GETATTR (the kernel asks before OPEN to check permissions, and for every stat) answered the
// core's stale size without refreshing it; the kernel then kept that size for its 60 s attribute
// lifetime while OPEN/READ fetched the new bytes. Here, in both bindings, each round changes a
// cached file remotely to a longer content, then polls (bounded) until the change shows: the first
// content that differs from the old one must be the whole new one, and stat must agree with it,
// also through a descriptor held open across the change (fstat = GETATTR with the handle, which
// the core answered from the stale node: the race that tore the read).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createMountEnv, type MountEnv } from '../helpers/mount-env.js';
import { hasFuse, type MountProc } from '../helpers/processes.js';
import { FUSE3_ADDON_PATH } from '../../src/fuse/fuse3-mount.js';

const bindings = ['fuse-native', ...(fs.existsSync(FUSE3_ADDON_PATH) ? ['fuse3'] : [])];
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe.skipIf(!hasFuse).each(bindings)('remote change: new bytes always with the new size (%s)', (binding) => {
  let env: MountEnv;
  let sid: string;
  let m: MountProc;

  beforeAll(async () => {
    env = await createMountEnv();
    sid = await env.createSession();
    m = await env.mount(sid, 'mnt', { binding });
  }, 120_000);

  afterAll(async () => {
    await env?.teardown();
  }, 120_000);

  it('five rounds of remote growth: never a torn (short) read, stat agrees', async () => {
    for (let round = 0; round < 5; round++) {
      const name = `f${round}.txt`;
      const file = path.join(m.mountpoint, name);
      const before = `v${round}`;
      const after = `v${round} and the rest of the new content`;
      fs.writeFileSync(file, before);
      // Cached by the kernel: attributes, pages, the dentry.
      expect(fs.readFileSync(file, 'utf8')).toBe(before);
      expect(fs.statSync(file).size).toBe(before.length);
      const cur = await env.node(sid, `/${name}`);
      await env.call('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: `/${name}`, content: b64(after), expectedHash: cur.contentHash } }] });
      let seen = before;
      const t0 = Date.now();
      while (seen === before && Date.now() - t0 < 10_000) {
        fs.statSync(file); // a GETATTR in the window between invalidation and the next open
        seen = fs.readFileSync(file, 'utf8');
        if (seen === before) await new Promise((r) => setTimeout(r, 20));
      }
      expect(seen, `round ${round}`).toBe(after);
      expect(fs.statSync(file).size, `round ${round}`).toBe(after.length);
    }
  }, 120_000);

  it('through a descriptor held open across the change: fstat then read never tear', async () => {
    for (let round = 0; round < 3; round++) {
      const name = `open${round}.txt`;
      const file = path.join(m.mountpoint, name);
      const before = `o${round}`;
      const after = `o${round} grown remotely while this descriptor stayed open`;
      fs.writeFileSync(file, before);
      const fd = fs.openSync(file, 'r');
      try {
        const buf = Buffer.alloc(256);
        const readAll = () => buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)).toString();
        expect(fs.fstatSync(fd).size).toBe(before.length);
        expect(readAll()).toBe(before);
        const cur = await env.node(sid, `/${name}`);
        await env.call('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: `/${name}`, content: b64(after), expectedHash: cur.contentHash } }] });
        let seen = before;
        let size = before.length;
        const t0 = Date.now();
        while (seen === before && Date.now() - t0 < 10_000) {
          size = fs.fstatSync(fd).size; // GETATTR with the file handle: the core's node, no path walk
          seen = readAll();
          if (seen === before) await new Promise((r) => setTimeout(r, 20));
        }
        expect(seen, `round ${round}`).toBe(after);
        expect(fs.fstatSync(fd).size, `round ${round}`).toBe(after.length);
        expect([before.length, after.length]).toContain(size);
      } finally {
        fs.closeSync(fd);
      }
    }
  }, 120_000);
});
