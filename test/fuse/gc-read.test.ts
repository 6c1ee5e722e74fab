// A real mount reading a cold file while the gateway collects garbage with no grace period
// (issue 15): the mount holds extents of a version another client has just replaced, GC runs with
// `graceSeconds: 0`, and the read still gets its bytes — the gateway's reader lease (extents it
// handed out are kept) is what makes that true, not the grace period.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createMountEnv, type MountEnv } from '../helpers/mount-env.js';
import { hasFuse } from '../helpers/processes.js';

const b64 = (b: Buffer) => b.toString('base64');

describe.skipIf(!hasFuse)('real mount: cold read during GC', () => {
  let env: MountEnv;
  beforeAll(async () => {
    env = await createMountEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('a cold read of a file replaced and collected (grace 0) mid-read gets the bytes it started reading', async () => {
    const sid = await env.createSession({ test: 'gc-read' });
    const old = randomBytes(6 * 1024 * 1024 + 123); // several chunks, all file blobs
    await env.call('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: '/data/big.bin', content: b64(old) } }] });
    const oldHashes = ((await env.node(sid, '/data/big.bin')).casExtents as Array<{ hash: string }>).map((x) => x.hash);
    expect(oldHashes.length).toBeGreaterThan(1);
    const m = await env.mount(sid);
    const file = path.join(m.mountpoint, 'data', 'big.bin');
    const fd = fs.openSync(file, 'r');
    try {
      // Cold: the mount's cache is empty; read the first 64 KiB only.
      const head = Buffer.alloc(64 * 1024);
      expect(fs.readSync(fd, head, 0, head.length, 0)).toBe(head.length);
      expect(head.equals(old.subarray(0, head.length))).toBe(true);

      // Another client replaces the file: every old blob is now unreachable from any root.
      const fresh = randomBytes(old.length);
      await env.call('POST', `/v1/sessions/${sid}/batch`, { operations: [{ write: { path: '/data/big.bin', content: b64(fresh) } }] });
      const gc = await env.call('POST', '/v1/admin/gc', { graceSeconds: '0' });
      expect(Number(gc.roots)).toBeGreaterThan(0);
      // No root reaches them any more, but they are leased to the reader: none was removed.
      for (const h of oldHashes) {
        const res = await fetch(`${env.gw.url}/v1/sessions/${sid}/blobs/${h}`, { method: 'HEAD', headers: { authorization: `Bearer ${env.gw.token}` } });
        expect(res.status, h).toBe(200);
      }

      // The rest of the read, through the same descriptor: no EIO, and one consistent version.
      const rest = Buffer.alloc(old.length - head.length);
      let got = 0;
      for (let i = 0; i < 10_000 && got < rest.length; i++) {
        const n = fs.readSync(fd, rest, got, rest.length - got, head.length + got);
        if (n === 0) break;
        got += n;
      }
      expect(got).toBe(rest.length);
      const whole = Buffer.concat([head, rest]);
      const isOld = whole.equals(old);
      const isNewTail = rest.equals(fresh.subarray(head.length));
      expect(isOld || isNewTail, 'bytes of the old version, or the new one after the mount noticed the change').toBe(true);
    } finally {
      fs.closeSync(fd);
    }
    // A fresh read sees the new version.
    const now = await env.bytes(sid, '/data/big.bin');
    expect(fs.readFileSync(file).equals(now)).toBe(true);
  });
});
