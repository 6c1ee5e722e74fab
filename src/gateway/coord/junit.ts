// JUnit XML report parsing for the health routes (POST /v1/sessions/{id}/health/report).
//
// Two parts, both owned here:
//  1. `parseXml`: a small, strict, non-validating XML parser. It checks well-formedness (one root
//     element, matching end tags, quoted and unique attributes, only the five predefined entities
//     and numeric character references, no "<" in text, nothing but comments/PIs/whitespace around
//     the root) and returns the element tree without text. A DOCTYPE is refused, so there is no
//     entity expansion to abuse. Iterative (no recursion), linear in the input size.
//  2. `summarizeJunit`: turns a `<testsuite>` / `<testsuites>` document into passed / failed /
//     skipped counts. When `<testcase>` elements exist they are counted (a case with `<failure>` or
//     `<error>` failed; otherwise one with `<skipped>` was skipped; otherwise it passed); without
//     any, the suite attributes are summed (passed = tests − failures − errors − skipped).
//
// Every problem throws `JunitParseError` (the route maps it to INVALID_ARGUMENT); nothing else is
// thrown for bad input. Callers: src/gateway/routes/health.ts and its tests.

/** Thrown for any report that is not well-formed XML or not a consistent JUnit document. */
export class JunitParseError extends Error {
  readonly code = 'AETHER_JUNIT_MALFORMED';
  constructor(message: string) {
    super(message);
    this.name = 'JunitParseError';
  }
}

/** One XML element: its (qualified) name, attributes and child elements. Text is dropped. */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
}

/** Test counts of one report. `failed` counts failures and errors together. */
export interface JunitSummary {
  tests: number;
  passed: number;
  failed: number;
  skipped: number;
}

const INT32_MAX = 2 ** 31 - 1;

function isNameStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x3a || c >= 0x80;
}

function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** Characters XML 1.0 allows in a document (tab, LF, CR and everything from U+0020 except U+FFFE/U+FFFF). */
function isXmlChar(cp: number): boolean {
  return cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

class Scanner {
  i = 0;
  constructor(readonly s: string) {}

  fail(msg: string): never {
    // Report a 1-based line number: enough to find the problem in a large file.
    let line = 1;
    for (let k = 0; k < this.i && k < this.s.length; k++) if (this.s.charCodeAt(k) === 0x0a) line++;
    throw new JunitParseError(`malformed XML at line ${line}: ${msg}`);
  }

  startsWith(lit: string): boolean {
    return this.s.startsWith(lit, this.i);
  }

  skipSpace(): void {
    while (this.i < this.s.length && isSpace(this.s.charCodeAt(this.i))) this.i++;
  }

  name(): string {
    const start = this.i;
    if (this.i >= this.s.length || !isNameStart(this.s.charCodeAt(this.i))) this.fail('expected a name');
    this.i++;
    while (this.i < this.s.length && isNameChar(this.s.charCodeAt(this.i))) this.i++;
    return this.s.slice(start, this.i);
  }

  /** Skip to just past `end`, failing when it never comes; returns the skipped text. */
  until(end: string, what: string): string {
    const j = this.s.indexOf(end, this.i);
    if (j < 0) this.fail(`unterminated ${what}`);
    const text = this.s.slice(this.i, j);
    this.i = j + end.length;
    return text;
  }

  /** Decode entity and character references in `raw` (attribute value or text). */
  decode(raw: string, inAttr: boolean): string {
    if (inAttr && raw.includes('<')) this.fail('"<" is not allowed in an attribute value');
    if (!raw.includes('&')) return raw;
    let out = '';
    let k = 0;
    while (k < raw.length) {
      const amp = raw.indexOf('&', k);
      if (amp < 0) {
        out += raw.slice(k);
        break;
      }
      out += raw.slice(k, amp);
      const semi = raw.indexOf(';', amp);
      if (semi < 0 || semi - amp > 12) this.fail('"&" must start an entity reference such as &amp;');
      const ref = raw.slice(amp + 1, semi);
      if (ref.startsWith('#')) {
        const m = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(ref);
        const cp = m ? (m[1] !== undefined ? parseInt(m[1], 16) : parseInt(m[2]!, 10)) : -1;
        if (!m || !isXmlChar(cp)) this.fail(`invalid character reference &${ref};`);
        out += String.fromCodePoint(cp);
      } else {
        const v = PREDEFINED[ref];
        if (v === undefined) this.fail(`undefined entity &${ref};`);
        out += v;
      }
      k = semi + 1;
    }
    return out;
  }
}

/**
 * Parse a well-formed XML document into its element tree (text content is validated, then dropped).
 * Throws JunitParseError on any well-formedness error.
 */
export function parseXml(text: string): XmlElement {
  // Reject characters XML forbids outright (NUL, most C0 controls) before scanning.
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c < 0x20 && c !== 0x9 && c !== 0xa && c !== 0xd) throw new JunitParseError(`malformed XML: control character U+${c.toString(16).padStart(4, '0')} is not allowed`);
    if (c === 0xfffe || c === 0xffff) throw new JunitParseError('malformed XML: non-character U+FFFE/U+FFFF is not allowed');
  }
  const sc: Scanner = new Scanner(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  const s = sc.s;
  let root: XmlElement | undefined;
  const stack: XmlElement[] = [];

  if (sc.startsWith('<?xml') && (s.length === 5 || isSpace(s.charCodeAt(5)) || s.startsWith('?>', 5))) {
    const decl = sc.until('?>', 'XML declaration');
    const enc = /\sencoding\s*=\s*["']([^"']*)["']/.exec(decl);
    if (enc && !/^(utf-?8|us-ascii|ascii)$/i.test(enc[1]!)) throw new JunitParseError(`unsupported XML encoding "${enc[1]}": send UTF-8`);
  }

  while (sc.i < s.length) {
    const lt = s.indexOf('<', sc.i);
    const textEnd = lt < 0 ? s.length : lt;
    if (textEnd > sc.i) {
      const raw = s.slice(sc.i, textEnd);
      if (stack.length === 0) {
        if (!/^[ \t\r\n]*$/.test(raw)) sc.fail(root ? 'text after the root element' : 'text before the root element');
      } else {
        if (raw.includes(']]>')) sc.fail('"]]>" is not allowed in text');
        sc.decode(raw, false);
      }
      sc.i = textEnd;
      if (lt < 0) break;
    }
    if (sc.startsWith('<!--')) {
      sc.i += 4;
      const body = sc.until('-->', 'comment');
      if (body.includes('--') || body.endsWith('-')) sc.fail('"--" is not allowed inside a comment');
      continue;
    }
    if (sc.startsWith('<![CDATA[')) {
      if (stack.length === 0) sc.fail('CDATA section outside the root element');
      sc.i += 9;
      sc.until(']]>', 'CDATA section');
      continue;
    }
    if (sc.startsWith('<!DOCTYPE') || sc.startsWith('<!')) {
      sc.fail('DOCTYPE and other declarations are not supported in test reports');
    }
    if (sc.startsWith('<?')) {
      sc.i += 2;
      const target = sc.name();
      if (target.toLowerCase() === 'xml') sc.fail('the XML declaration must come first');
      sc.until('?>', 'processing instruction');
      continue;
    }
    if (sc.startsWith('</')) {
      sc.i += 2;
      const name = sc.name();
      sc.skipSpace();
      if (s[sc.i] !== '>') sc.fail(`expected ">" to close </${name}`);
      sc.i++;
      const open = stack.pop();
      if (!open) sc.fail(`end tag </${name}> without a start tag`);
      if (open.name !== name) sc.fail(`end tag </${name}> does not match <${open.name}>`);
      continue;
    }
    // Start tag.
    sc.i++;
    const name = sc.name();
    if (stack.length === 0 && root) sc.fail(`second root element <${name}>`);
    const el: XmlElement = { name, attrs: Object.create(null) as Record<string, string>, children: [] };
    for (;;) {
      const before = sc.i;
      sc.skipSpace();
      if (sc.i >= s.length) sc.fail(`unterminated start tag <${name}>`);
      const c = s[sc.i];
      if (c === '>' || c === '/') break;
      if (sc.i === before) sc.fail(`expected whitespace before an attribute in <${name}>`);
      const an = sc.name();
      sc.skipSpace();
      if (s[sc.i] !== '=') sc.fail(`attribute ${an} of <${name}> has no value`);
      sc.i++;
      sc.skipSpace();
      const q = s[sc.i];
      if (q !== '"' && q !== "'") sc.fail(`attribute ${an} of <${name}> must be quoted`);
      sc.i++;
      const raw = sc.until(q, `attribute ${an}`);
      if (Object.prototype.hasOwnProperty.call(el.attrs, an)) sc.fail(`duplicate attribute ${an} in <${name}>`);
      el.attrs[an] = sc.decode(raw, true);
    }
    let selfClosing = false;
    if (s[sc.i] === '/') {
      if (s[sc.i + 1] !== '>') sc.fail(`expected "/>" in <${name}>`);
      selfClosing = true;
      sc.i += 2;
    } else {
      sc.i++;
    }
    if (stack.length) stack[stack.length - 1]!.children.push(el);
    else root = el;
    if (!selfClosing) stack.push(el);
  }
  if (stack.length) throw new JunitParseError(`malformed XML: <${stack[stack.length - 1]!.name}> is never closed`);
  if (!root) throw new JunitParseError('malformed XML: no root element');
  return root;
}

/** Read a count attribute: absent → 0; otherwise a non-negative decimal integer within int32. */
function count(el: XmlElement, attr: string): number {
  const v = el.attrs[attr];
  if (v === undefined) return 0;
  const t = v.trim();
  if (!/^\d{1,10}$/.test(t)) throw new JunitParseError(`<${el.name}> attribute ${attr}="${v}" is not a non-negative integer`);
  const n = Number(t);
  if (n > INT32_MAX) throw new JunitParseError(`<${el.name}> attribute ${attr}="${v}" is too large`);
  return n;
}

/** Local name without a namespace prefix ("ns:testsuite" → "testsuite"). */
function local(name: string): string {
  const i = name.indexOf(':');
  return i < 0 ? name : name.slice(i + 1);
}

/** Counts from a suite's attributes, checked for consistency. */
function attributeCounts(el: XmlElement): JunitSummary {
  const tests = count(el, 'tests');
  const failed = count(el, 'failures') + count(el, 'errors');
  const skipped = count(el, 'skipped');
  if (failed + skipped > tests) {
    throw new JunitParseError(`<${el.name}> counts do not add up: failures + errors + skipped (${failed + skipped}) exceed tests (${tests})`);
  }
  return { tests, passed: tests - failed - skipped, failed, skipped };
}

/**
 * Summarize a parsed JUnit document. The root must be `<testsuites>` or `<testsuite>`; count
 * attributes must be non-negative integers that add up (failures + errors + skipped ≤ tests).
 */
export function summarizeJunit(root: XmlElement): JunitSummary {
  const rootName = local(root.name);
  if (rootName !== 'testsuite' && rootName !== 'testsuites') {
    throw new JunitParseError(`not a JUnit report: the root element is <${root.name}>, expected <testsuites> or <testsuite>`);
  }
  // Validate every suite's own counts and gather the test cases, iteratively.
  const cases: XmlElement[] = [];
  const work: XmlElement[] = [root];
  while (work.length) {
    const el = work.pop()!;
    const n = local(el.name);
    if (n === 'testsuite' || n === 'testsuites') {
      attributeCounts(el);
      for (const c of el.children) work.push(c);
    } else if (n === 'testcase') {
      cases.push(el);
    }
  }
  if (cases.length > 0) {
    let failed = 0;
    let skipped = 0;
    for (const tc of cases) {
      const kinds = new Set(tc.children.map((c) => local(c.name)));
      if (kinds.has('failure') || kinds.has('error')) failed++;
      else if (kinds.has('skipped')) skipped++;
    }
    if (cases.length > INT32_MAX) throw new JunitParseError('too many test cases');
    return { tests: cases.length, passed: cases.length - failed - skipped, failed, skipped };
  }
  // No test cases: trust the attributes of the outermost suites (an enclosing suite's counts
  // already include its nested suites, so nested ones are not added again).
  const top = rootName === 'testsuite' ? [root] : root.children.filter((c) => local(c.name) === 'testsuite');
  const sources = top.length ? top : [root];
  const sum: JunitSummary = { tests: 0, passed: 0, failed: 0, skipped: 0 };
  for (const el of sources) {
    const c = attributeCounts(el);
    sum.tests += c.tests;
    sum.passed += c.passed;
    sum.failed += c.failed;
    sum.skipped += c.skipped;
  }
  if (sum.tests > INT32_MAX) throw new JunitParseError('test counts are too large');
  return sum;
}

/**
 * Decode report bytes (UTF-8, optional BOM) and summarize them. Throws JunitParseError for
 * invalid UTF-8, malformed XML or an inconsistent JUnit document.
 */
export function parseJunitReport(content: Buffer | Uint8Array): JunitSummary {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(content);
  } catch {
    throw new JunitParseError('report is not valid UTF-8');
  }
  return summarizeJunit(parseXml(text));
}
