// handle-error: one line + hint, the exit code per error class, no token, stacks only in debug.
import { describe, expect, it } from 'vitest';
import { CommanderError } from 'commander';
import { handleError, EXIT_INTERRUPTED } from '../../../src/cli/handle-error.js';
import { AetherError, UserError } from '../../../src/shared/errors.js';
import { GatewayError } from '../../../src/client/index.js';
import { captureIO } from '../../helpers/capture-io.js';

function run(err: unknown, opts: { debug?: boolean; secrets?: string[]; commandPath?: string } = {}) {
  const io = captureIO();
  const code = handleError(err, io, { debug: opts.debug ?? false, secrets: opts.secrets, commandPath: opts.commandPath });
  return { code, err: io.err(), out: io.out() };
}

describe('handleError', () => {
  it.each([
    [5, 3],
    [9, 4],
    [10, 4],
    [6, 4],
    [16, 5],
    [7, 5],
    [14, 6],
    [3, 2],
    [13, 1],
  ])('gateway rpc code %i → exit %i', (rpcCode, exit) => {
    const r = run(new GatewayError('boom', { rpcCode }));
    expect(r.code).toBe(exit);
    expect(r.err.split('\n')[0]).toBe('aether: boom');
    expect(r.out).toBe('');
  });

  it('unreachable is network (6) with a hint', () => {
    const r = run(GatewayError.unreachable('connect ECONNREFUSED 127.0.0.1:1'));
    expect(r.code).toBe(6);
    expect(r.err).toMatch(/^hint: is the gateway running\?/m);
  });

  it('UserError is usage (2), no stack; explicit kinds win', () => {
    expect(run(new UserError('X', 'bad flag')).code).toBe(2);
    expect(run(new AetherError('Y', 'gone', { kind: 'not_found' })).code).toBe(3);
    const r = run(new AetherError('Z', 'pending', { kind: 'conflict', hint: 'grant it' }));
    expect(r.code).toBe(4);
    expect(r.err).toBe('aether: pending\nhint: grant it\n');
  });

  it('commander errors: help/version → 0, usage → 2 with a command-specific hint', () => {
    expect(run(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)')).code).toBe(0);
    expect(run(new CommanderError(0, 'commander.version', '0.1.0')).code).toBe(0);
    expect(run(new CommanderError(1, 'commander.help', '(outputHelp)')).code).toBe(2);
    const r = run(new CommanderError(1, 'commander.unknownOption', "error: unknown option '--x'"), { commandPath: 'aether session list' });
    expect(r.code).toBe(2);
    expect(r.err).toBe("aether: unknown option '--x'\nhint: see `aether session list --help` for usage\n");
  });

  it('unexpected errors are internal (1) and suggest AETHER_LOG=debug; debug prints the stack and causes', () => {
    const plain = run(new TypeError('x is undefined'));
    expect(plain.code).toBe(1);
    expect(plain.err).toContain('aether: internal error: x is undefined');
    expect(plain.err).toContain('AETHER_LOG=debug');
    expect(plain.err).not.toMatch(/\n\s+at /);
    const dbg = run(new AetherError('A', 'outer', { cause: new Error('inner cause') }), { debug: true });
    expect(dbg.err).toMatch(/\n\s+at /);
    expect(dbg.err).toContain('caused by: Error: inner cause');
  });

  it('never prints a token: bearer values, aet_ tokens and known secrets are scrubbed', () => {
    const token = 'sekrit-token-value-1234';
    const r = run(new AetherError('A', `failed with Bearer ${token} and aet_abcdefghijklmnop and ${token}`, { hint: `token ${token}` }), { secrets: [token], debug: true });
    expect(r.err).not.toContain(token);
    expect(r.err).not.toContain('aet_abcdefghijklmnop');
    expect(r.err).toContain('[redacted]');
  });

  it('cancellation and AbortError exit 130', () => {
    expect(run(new GatewayError('cancelled', { rpcCode: 1 })).code).toBe(EXIT_INTERRUPTED);
    const abort = new Error('aborted');
    abort.name = 'AbortError';
    expect(run(abort).code).toBe(EXIT_INTERRUPTED);
  });

  it('multi-line messages are cut to their first line', () => {
    expect(run(new AetherError('A', 'first\nsecond', { kind: 'internal' })).err).toBe('aether: first\n');
  });
});
