// The gateway's pure git-string validation agrees with git itself (check-ref-format --branch).
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { identityProblem, parseBranchName, refFormatProblem, remoteUrlProblem } from '../../../src/gateway/git/refs.js';
import { redact } from '../../../src/gateway/git/git-runner.js';

const run = promisify(execFile);

async function gitAccepts(name: string): Promise<boolean> {
  try {
    await run('git', ['check-ref-format', '--branch', name], { env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null' } });
    return true;
  } catch {
    return false;
  }
}

describe('git ref names', () => {
  const names = [
    'main', 'fix/login-validation', 'release/2026.03', 'feature/a-b_c', 'x', 'a.b', 'v1.0.0', 'aether/promote/release-candidate-7',
    'bad..name', '-x', 'a b', 'x.lock', 'a/x.lock/b', 'a//b', '.hidden', 'a/.hidden', 'end.', 'a@{1}', 'q?', 'star*', 'tilde~1',
    'caret^', 'col:on', 'back\\slash', 'trailing/', '/leading', 'br[acket', 'tab\there', 'del\x7f', 'ünïcode', 'a@b', 'a.lock.b',
  ];
  it('refFormatProblem matches git check-ref-format --branch', async () => {
    for (const n of names) {
      expect(refFormatProblem(n) === undefined, JSON.stringify(n)).toBe(await gitAccepts(n));
    }
  });

  it('parseBranchName strips refs/heads/ and rejects HEAD', () => {
    expect(parseBranchName('refs/heads/fix/x')).toEqual({ branch: 'fix/x' });
    expect(parseBranchName('fix/x')).toEqual({ branch: 'fix/x' });
    expect('problem' in parseBranchName('HEAD')).toBe(true);
    expect('problem' in parseBranchName('refs/heads/')).toBe(true);
  });
});

describe('remote URLs', () => {
  it('accepts the supported forms', () => {
    for (const u of ['/srv/git/repo.git', 'file:///srv/git/repo.git', 'https://github.com/acme/webapp.git', 'http://h/r', 'ssh://git@h/r.git', 'git://h/r', 'git@github.com:acme/webapp.git', 'host:path/r.git']) {
      expect(remoteUrlProblem(u), u).toBeUndefined();
    }
  });
  it('rejects relative paths, options, helpers and other schemes', () => {
    for (const u of ['', 'relative/path', './x', '-uevil', '--upload-pack=x', 'ext::sh -c x', 'fd::17', 'ftp://h/r', 'file://relative', 'https://h/a b', 'C:\\repo', 'x\ny']) {
      expect(remoteUrlProblem(u), JSON.stringify(u)).toBeDefined();
    }
  });
  it('redacts userinfo and listed secrets', () => {
    expect(redact('fatal: https://user:tok3n@host/r.git not found')).toBe('fatal: https://***@host/r.git not found');
    expect(redact('token abc123 leaked', ['abc123'])).toBe('token *** leaked');
  });
});

describe('commit identities', () => {
  it('rejects characters git forbids', () => {
    expect(identityProblem('Alice Example')).toBeUndefined();
    for (const s of ['a<b', 'a>b', 'a\nb', 'a\0b']) expect(identityProblem(s)).toBeDefined();
  });
});
