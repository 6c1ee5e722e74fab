// The no-echo prompt used by `secret set` and `login` on a terminal.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { promptHidden } from '../../../src/cli/prompt.js';
import { captureIO } from '../../helpers/capture-io.js';

function ttyStdin() {
  const s = new PassThrough() as PassThrough & { isTTY: boolean; raw: boolean[]; setRawMode(m: boolean): void };
  s.isTTY = true;
  s.raw = [];
  s.setRawMode = (m: boolean) => void s.raw.push(m);
  return s;
}

describe('promptHidden', () => {
  it('reads a line in raw mode without echoing it; backspace edits', async () => {
    const stdin = ttyStdin();
    const io = { ...captureIO(), stdin };
    const p = promptHidden(io, 'value for NPM_TOKEN: ');
    stdin.write('npm_x');
    stdin.write('\u007fy-secret\r');
    expect(await p).toBe('npm_y-secret');
    expect(io.err()).toBe('value for NPM_TOKEN: \n');
    expect(io.out()).toBe('');
    expect(stdin.raw).toEqual([true, false]);
  });

  it('Ctrl-C rejects as interrupted and restores the terminal', async () => {
    const stdin = ttyStdin();
    const io = { ...captureIO(), stdin };
    const p = promptHidden(io, 'token: ');
    stdin.write('abc\u0003');
    await expect(p).rejects.toMatchObject({ code: 'AETHER_INTERRUPTED' });
    expect(stdin.raw).toEqual([true, false]);
  });
});
