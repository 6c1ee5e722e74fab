// The .gitignore matcher (src/gateway/git/ignore.ts): fixed cases from gitignore(5), then a
// differential test against real git — random trees with random .gitignore files at several
// levels, every path asked both to our matcher and to `git check-ignore` (and, for files, to
// `git ls-files --others --ignored --exclude-standard`, which applies the parent-directory rule).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { IgnoreMatcher, parseIgnore } from '../../../src/gateway/git/ignore.js';
import { git } from '../../helpers/git-fixtures.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { Rng } from '../../helpers/fs-model.js';

function matcher(files: Record<string, string>): IgnoreMatcher {
  return new IgnoreMatcher((dir) => files[dir === '' ? '.gitignore' : `${dir}/.gitignore`]);
}

describe('gitignore rules', () => {
  it('follows the documented examples', () => {
    const m = matcher({
      '.gitignore': ['# comment', '', 'node_modules', '*.o', '/build/', 'doc/*.txt', '!keep.o', 'logs/**', 'a/**/z', '\\#lit', 'sp\\ ', 'x[0-9]', 'y[!a]'].join('\n'),
      'sub/.gitignore': '!*.o\nlocal\n',
    });
    const cases: Array<[string, boolean, boolean]> = [
      ['node_modules', true, true],
      ['pkg/node_modules/x/index.js', false, true],
      ['main.o', false, true],
      ['keep.o', false, false],
      ['sub/other.o', false, false], // re-included by the deeper file
      ['sub/local', false, true],
      ['build', true, true],
      ['build', false, false], // dir-only pattern
      ['src/build', true, false], // anchored
      ['doc/a.txt', false, true],
      ['doc/x/a.txt', false, false],
      ['logs', true, false],
      ['logs/a/b.log', false, true],
      ['a/z', false, true],
      ['a/b/c/z', false, true],
      ['#lit', false, true],
      ['sp ', false, true],
      ['sp', false, false],
      ['x5', false, true],
      ['xa', false, false],
      ['yb', false, true],
      ['ya', false, false],
      ['# comment', false, false],
    ];
    for (const [p, isDir, want] of cases) expect(m.ignored(p, isDir), `${p}${isDir ? '/' : ''}`).toBe(want);
  });

  it('cannot re-include a file whose directory is ignored, and skips comments, blanks and CRs', () => {
    const m = matcher({ '.gitignore': 'out/\r\n!out/keep.txt\r\n   \r\n' });
    expect(m.ignored('out/keep.txt', false)).toBe(true);
    expect(parseIgnore('a\r\n\n#x\n  \n').map((r) => r.pattern)).toEqual(['a']);
  });
});

// ---- differential ---------------------------------------------------------------------------------

const DIRS = ['a', 'b', 'src', 'build', 'node_modules', 'x.d', 'deep'];
const FILES = ['foo.txt', 'bar.js', 'a.o', '.env', 'build', 'x', 'log.log', 'keep.o', 'Foo.TXT'];
const ATOMS = ['*', '?', '**', 'a', 'b', 'o', '.', 'x', 'build', 'src', 'foo', 'txt', 'log', 'node_modules', '[a-c]', '[!a]', '[ab]', 'deep', 'd'];

const REALISTIC = ['node_modules', 'node_modules/', '*.o', '!keep.o', 'build/', '/build', '*.log', '!log.log', 'src/**/x', 'a/*', '**/foo.txt', 'deep/', 'x.d', '.env', '*.txt', '!*.txt', 'b/**', '*', '!a', '!*/', 'x', '/a/b', '[a-f]*', 'F*', '?', 'deep/**/bar.js'];

function randomPattern(r: () => number): string {
  const pick = <T,>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  if (r() < 0.6) return pick(REALISTIC);
  const parts: string[] = [];
  const n = 1 + Math.floor(r() * 3);
  for (let i = 0; i < n; i++) {
    let seg = '';
    const atoms = 1 + Math.floor(r() * 3);
    for (let k = 0; k < atoms; k++) seg += pick(ATOMS);
    parts.push(seg);
  }
  let p = parts.join('/');
  if (r() < 0.2) p = '/' + p;
  if (r() < 0.15) p = '**/' + p;
  if (r() < 0.2) p += '/';
  if (r() < 0.1) p += '/**';
  if (r() < 0.25) p = '!' + p;
  return p;
}

function randomTree(r: () => number): { files: string[]; dirs: string[] } {
  const files = new Set<string>();
  const dirs = new Set<string>();
  const walk = (prefix: string, depth: number) => {
    const nd = depth >= 3 ? 0 : Math.floor(r() * 3);
    for (let i = 0; i < nd; i++) {
      const d = prefix + DIRS[Math.floor(r() * DIRS.length)]!;
      if (dirs.has(d) || files.has(d)) continue;
      dirs.add(d);
      walk(d + '/', depth + 1);
    }
    const nf = 1 + Math.floor(r() * 3);
    for (let i = 0; i < nf; i++) {
      const f = prefix + FILES[Math.floor(r() * FILES.length)]!;
      if (!dirs.has(f)) files.add(f);
    }
  };
  walk('', 0);
  return { files: [...files], dirs: [...dirs] };
}

describe('gitignore matcher vs real git (differential)', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    tmp = await makeTempDir('aether-ignore-');
  });
  afterAll(async () => {
    await tmp?.cleanup();
  });

  it('agrees with git check-ignore and git ls-files on random trees (IGNORE_CASES, default 60)', async () => {
    let compared = 0;
    let ignoredSeen = 0;
    for (let c = 0; c < Number(process.env.IGNORE_CASES ?? 60); c++) {
      const prng = new Rng(1000 + c);
      const r = () => prng.u32() / 4294967296;
      const repo = path.join(tmp.dir, `case${c}`);
      await git(tmp.dir, 'init', '--quiet', repo);
      const { files, dirs } = randomTree(r);
      const ignores: Record<string, string> = {};
      for (const d of ['', ...dirs]) {
        if (d !== '' && r() < 0.6) continue;
        const lines = Array.from({ length: 1 + Math.floor(r() * 5) }, () => randomPattern(r));
        ignores[d === '' ? '.gitignore' : `${d}/.gitignore`] = lines.join('\n') + '\n';
      }
      for (const d of dirs) await fs.mkdir(path.join(repo, d), { recursive: true });
      for (const f of files) await fs.writeFile(path.join(repo, f), 'x\n');
      for (const [p, text] of Object.entries(ignores)) await fs.writeFile(path.join(repo, p), text);
      const m = matcher(ignores);
      const all = [...files.map((f) => [f, false] as const), ...dirs.map((d) => [d, true] as const)];

      // check-ignore answers for the path's own patterns and its leading directories (a directory
      // is named without a trailing slash: with one, git would consult the .gitignore inside it).
      const input = all.map(([p]) => p).join('\0') + '\0';
      const res = await runCheckIgnore(repo, input);
      for (const [p, isDir] of all) {
        const want = res.get(p);
        expect(want, `check-ignore said nothing about ${p}`).toBeDefined();
        expect(m.ignored(p, isDir), `case ${c}: ${p}${isDir ? '/' : ''}\n${JSON.stringify(ignores, null, 1)}`).toBe(want);
        compared++;
        if (want) ignoredSeen++;
      }
      // ls-files lists every untracked ignored file (the set commit leaves out).
      const listed = new Set((await git(repo, 'ls-files', '-z', '--others', '--ignored', '--exclude-standard')).split('\0').filter(Boolean));
      for (const f of files) expect(m.ignored(f, false), `case ${c} ls-files: ${f}\n${JSON.stringify(ignores, null, 1)}`).toBe(listed.has(f));
    }
    expect(compared).toBeGreaterThan(500);
    expect(ignoredSeen).toBeGreaterThan(compared / 10);
    expect(ignoredSeen).toBeLessThan(compared * 0.9);
  }, 120_000);
});

/** `git check-ignore -v -n -z --no-index --stdin`: path → ignored (a matching non-negated pattern). */
async function runCheckIgnore(repo: string, input: string): Promise<Map<string, boolean>> {
  const { spawn } = await import('node:child_process');
  const env = { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' };
  for (const k of Object.keys(env)) if (k.startsWith('GIT_') && k !== 'GIT_CONFIG_GLOBAL' && k !== 'GIT_CONFIG_NOSYSTEM') delete env[k];
  const child = spawn('git', ['check-ignore', '--no-index', '-z', '-v', '-n', '--stdin'], { cwd: repo, env });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => chunks.push(b));
  child.stdin.end(input);
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 || code === 1 ? resolve() : reject(new Error(`check-ignore exit ${code}`))));
  });
  // Records of four NUL-terminated fields: source, line, pattern, path.
  const fields = Buffer.concat(chunks).toString('utf8').split('\0');
  const out = new Map<string, boolean>();
  for (let i = 0; i + 3 < fields.length; i += 4) {
    const pattern = fields[i + 2]!;
    out.set(fields[i + 3]!, pattern !== '' && !pattern.startsWith('!'));
  }
  return out;
}
