// A `.gitignore` matcher written from git's documented rules (gitignore(5)), used at commit to
// leave untracked ignored files (node_modules, build outputs) out of the commit.
//
// Rules implemented:
// - One pattern per line; blank lines and lines starting with "#" are skipped; a trailing "\r"
//   is dropped; trailing spaces are dropped unless escaped ("\ "); "\" escapes any character
//   ("\#", "\!").
// - "!" negates (re-includes). A trailing "/" matches directories only. A pattern with a "/" at
//   the start or in the middle is anchored to the directory of its .gitignore; otherwise it
//   matches the name at any depth below that directory.
// - "*" and "?" never match "/"; "[...]" is a class ("!" or "^" negates, ranges, [:class:]);
//   "**/" at the start or "/**/" in the middle match zero or more directories; a trailing "/**"
//   matches everything inside; any other "**" is a plain "*".
// - Precedence: within one file the last matching pattern wins; a deeper .gitignore wins over a
//   shallower one; extra patterns (a per-source exclude list) rank below every .gitignore.
// - A path whose parent directory is ignored is ignored: git does not descend into an ignored
//   directory, so a negation cannot re-include a file inside it, and .gitignore files inside an
//   ignored directory are not read.
// Tracked files are not this module's business: the caller keeps them whatever the rules say.
// Case-sensitive (core.ignoreCase=false). Pure: no I/O (the caller supplies file contents).
//
// Callers: git/export.ts (commit filtering); test/unit/gateway/git-ignore*.test.ts.

/** One parsed pattern. */
export interface IgnoreRule {
  /** The line it came from (for explanations). */
  pattern: string;
  negate: boolean;
  dirOnly: boolean;
  /** Matched against the path relative to `base` (else against the last component). */
  anchored: boolean;
  re: RegExp;
}

/** Drop trailing spaces that are not escaped with a backslash. */
function trimTrailingSpaces(line: string): string {
  let end = line.length;
  while (end > 0 && line[end - 1] === ' ') {
    // Count the backslashes before this space: an odd number escapes it.
    let bs = 0;
    for (let i = end - 2; i >= 0 && line[i] === '\\'; i--) bs++;
    if (bs % 2 === 1) break;
    end--;
  }
  return line.slice(0, end);
}

const CLASSES: Record<string, string> = {
  alnum: 'A-Za-z0-9',
  alpha: 'A-Za-z',
  blank: ' \\t',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: ' \\t\\n\\r\\f\\v',
  upper: 'A-Z',
  xdigit: '0-9A-Fa-f',
};

const escapeRe = (c: string) => c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');

/** Parse a bracket expression starting at `p[i] === '['`; returns [regex, next index] or undefined. */
function bracket(p: string, i: number): [string, number] | undefined {
  let j = i + 1;
  let negate = false;
  if (p[j] === '!' || p[j] === '^') {
    negate = true;
    j++;
  }
  let body = '';
  let first = true;
  while (j < p.length) {
    const c = p[j]!;
    if (c === ']' && !first) {
      // A class never matches "/" (pathname matching).
      return [negate ? `[^/${body}]` : `(?!/)[${body}]`, j + 1];
    }
    first = false;
    if (c === '[' && p[j + 1] === ':') {
      const close = p.indexOf(':]', j + 2);
      const name = close > 0 ? p.slice(j + 2, close) : '';
      if (close > 0 && CLASSES[name] !== undefined) {
        body += CLASSES[name];
        j = close + 2;
        continue;
      }
    }
    let lo = c;
    if (c === '\\' && j + 1 < p.length) lo = p[++j]!;
    if (p[j + 1] === '-' && j + 2 < p.length && p[j + 2] !== ']') {
      let hi = p[j + 2]!;
      j += 3;
      if (hi === '\\' && j < p.length) hi = p[j++]!;
      if (hi >= lo) body += `${escapeRe(lo)}-${escapeRe(hi)}`;
      continue;
    }
    body += escapeRe(lo);
    j++;
  }
  return undefined; // unterminated: "[" is a literal
}

/** Translate a wildmatch pattern (pathname mode) to an anchored RegExp source. */
export function globToRegExp(p: string): string {
  let out = '';
  let i = 0;
  while (i < p.length) {
    const c = p[i]!;
    if (c === '\\') {
      if (i + 1 < p.length) out += escapeRe(p[i + 1]!);
      else out += '(?!)'; // a trailing backslash matches nothing (as in wildmatch)
      i += 2;
    } else if (c === '*') {
      let j = i;
      while (p[j] === '*') j++;
      const stars = j - i;
      const atStart = i === 0 || p[i - 1] === '/';
      if (stars >= 2 && atStart && (j === p.length || p[j] === '/')) {
        if (j === p.length) out += '.*';
        else {
          out += '(?:.*/)?';
          j++; // the "/" is part of the zero-or-more-directories match
        }
      } else out += '[^/]*';
      i = j;
    } else if (c === '?') {
      out += '[^/]';
      i++;
    } else if (c === '[') {
      const b = bracket(p, i);
      if (b) {
        out += b[0];
        i = b[1];
      } else {
        out += '\\[';
        i++;
      }
    } else {
      out += escapeRe(c);
      i++;
    }
  }
  return out;
}

/** Parse the text of one .gitignore (or exclude list). */
export function parseIgnore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (let line of text.split('\n')) {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line === '' || line.startsWith('#')) continue;
    line = trimTrailingSpaces(line);
    let negate = false;
    if (line.startsWith('!')) {
      negate = true;
      line = line.slice(1);
    }
    let dirOnly = false;
    if (line.endsWith('/')) {
      dirOnly = true;
      line = line.slice(0, -1);
    }
    const anchored = line.includes('/');
    if (line.startsWith('/')) line = line.slice(1);
    if (line === '') continue;
    rules.push({ pattern: line, negate, dirOnly, anchored, re: new RegExp(`^${globToRegExp(line)}$`) });
  }
  return rules;
}

/**
 * Decides whether paths (relative, "/"-separated, no leading slash) are ignored. `load(dir)`
 * returns the text of `<dir>/.gitignore` ("" = the top directory), or undefined when absent.
 */
export class IgnoreMatcher {
  private files = new Map<string, IgnoreRule[]>();
  private dirVerdicts = new Map<string, boolean>();

  constructor(
    private readonly load: (dir: string) => string | undefined,
    /** Lowest-precedence patterns, anchored at the top (like .git/info/exclude). */
    private readonly extra: IgnoreRule[] = [],
  ) {}

  private rulesOf(dir: string): IgnoreRule[] {
    let r = this.files.get(dir);
    if (!r) {
      const text = this.load(dir);
      r = text === undefined ? [] : parseIgnore(text);
      this.files.set(dir, r);
    }
    return r;
  }

  /** Whether `path` is ignored (`isDir`: it is a directory). */
  ignored(path: string, isDir: boolean): boolean {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      if (this.dirIgnored(parts.slice(0, i).join('/'))) return true;
    }
    return this.decide(parts, isDir);
  }

  private dirIgnored(dir: string): boolean {
    let v = this.dirVerdicts.get(dir);
    if (v === undefined) {
      const parts = dir.split('/');
      const parent = parts.slice(0, -1).join('/');
      v = (parent !== '' && this.dirIgnored(parent)) || this.decide(parts, true);
      this.dirVerdicts.set(dir, v);
    }
    return v;
  }

  /** The verdict of the patterns for `parts` itself (ancestors not considered). */
  private decide(parts: string[], isDir: boolean): boolean {
    const name = parts[parts.length - 1]!;
    // Deepest .gitignore first; within a file, the last pattern first.
    for (let depth = parts.length - 1; depth >= 0; depth--) {
      const base = parts.slice(0, depth).join('/');
      const rel = parts.slice(depth).join('/');
      const v = this.verdict(this.rulesOf(base), rel, name, isDir);
      if (v !== undefined) return v;
    }
    return this.verdict(this.extra, parts.join('/'), name, isDir) ?? false;
  }

  private verdict(rules: IgnoreRule[], rel: string, name: string, isDir: boolean): boolean | undefined {
    for (let k = rules.length - 1; k >= 0; k--) {
      const r = rules[k]!;
      if (r.dirOnly && !isDir) continue;
      if (r.re.test(r.anchored ? rel : name)) return !r.negate;
    }
    return undefined;
  }
}
