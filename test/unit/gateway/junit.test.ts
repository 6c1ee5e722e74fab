// Unit tests for the strict JUnit XML parser behind POST /v1/sessions/{id}/health/report.
import { describe, expect, it } from 'vitest';
import { JunitParseError, parseJunitReport, parseXml, summarizeJunit } from '../../../src/gateway/coord/junit.js';

const sum = (xml: string) => parseJunitReport(Buffer.from(xml, 'utf8'));
const bad = (xml: string | Buffer) => {
  let err: unknown;
  try {
    parseJunitReport(typeof xml === 'string' ? Buffer.from(xml, 'utf8') : xml);
  } catch (e) {
    err = e;
  }
  expect(err, `expected a JunitParseError for ${String(xml).slice(0, 80)}`).toBeInstanceOf(JunitParseError);
  return (err as JunitParseError).message;
};

describe('parseXml', () => {
  it('returns the element tree with decoded attributes', () => {
    const root = parseXml(`<?xml version="1.0" encoding="UTF-8"?>\n<!-- c --><a x="1 &amp; 2" y='&lt;&#65;&#x42;&gt;'><b/><c>t&quot;<![CDATA[<raw> & ]]></c><?pi data?></a>\n`);
    expect(root.name).toBe('a');
    expect(root.attrs).toEqual({ x: '1 & 2', y: '<AB>' });
    expect(root.children.map((c) => c.name)).toEqual(['b', 'c']);
  });

  it('accepts a BOM, namespaces and whitespace in tags', () => {
    const root = parseXml('\ufeff<ns:a  xmlns:ns="u" >\n<ns:b\n k = "v" /></ns:a >');
    expect(root.name).toBe('ns:a');
    expect(root.children[0]!.attrs.k).toBe('v');
  });

  it.each([
    ['empty document', ''],
    ['only whitespace', '  \n'],
    ['unclosed root', '<a>'],
    ['mismatched end tag', '<a><b></a></b>'],
    ['stray end tag', '<a/></b>'],
    ['two roots', '<a/><b/>'],
    ['text after root', '<a/>junk'],
    ['text before root', 'junk<a/>'],
    ['unquoted attribute', '<a x=1/>'],
    ['attribute without value', '<a x/>'],
    ['duplicate attribute', '<a x="1" x="2"/>'],
    ['attributes without whitespace', '<a x="1"y="2"/>'],
    ['"<" in attribute', '<a x="<"/>'],
    ['bare ampersand', '<a>fish & chips</a>'],
    ['unknown entity', '<a>&nbsp;</a>'],
    ['bad char reference', '<a>&#0;</a>'],
    ['"]]>" in text', '<a>]]></a>'],
    ['unterminated comment', '<a><!-- x </a>'],
    ['"--" in comment', '<a><!-- a -- b --></a>'],
    ['unterminated CDATA', '<a><![CDATA[x</a>'],
    ['DOCTYPE', '<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'],
    ['late XML declaration', ' <?xml version="1.0"?><a/>'],
    ['NUL byte', '<a>\u0000</a>'],
    ['bad name', '<1a/>'],
    ['unterminated start tag', '<a x="1"'],
    ['non-UTF-8 encoding declared', '<?xml version="1.0" encoding="UTF-16"?><a/>'],
  ])('rejects %s', (_what, xml) => {
    expect(() => parseXml(xml)).toThrow(JunitParseError);
  });
});

describe('summarizeJunit', () => {
  it('reads the seed example from attributes', () => {
    expect(sum('<testsuite tests="2" failures="0"/>')).toEqual({ tests: 2, passed: 2, failed: 0, skipped: 0 });
  });

  it('sums the attributes of several suites under <testsuites>', () => {
    const r = sum(`<testsuites tests="9" failures="1" errors="1" skipped="1">
      <testsuite name="a" tests="5" failures="1" errors="0" skipped="1"/>
      <testsuite name="b" tests="4" failures="0" errors="1"/>
    </testsuites>`);
    expect(r).toEqual({ tests: 9, passed: 6, failed: 2, skipped: 1 });
  });

  it('counts <testcase> elements when present, failure/error before skipped', () => {
    const r = sum(`<?xml version="1.0" encoding="utf-8"?>
<testsuites name="vitest" tests="6" failures="2" errors="1" time="1.2">
  <testsuite name="math" tests="3" failures="1" errors="0" skipped="1" timestamp="2026-03-11T08:12:50">
    <properties><property name="env" value="ci"/></properties>
    <testcase classname="math" name="adds &amp; subtracts" time="0.01"/>
    <testcase classname="math" name="divides"><failure message="expected 2 &lt; 1" type="AssertionError"><![CDATA[at divide (<anonymous>)]]></failure></testcase>
    <testcase classname="math" name="later"><skipped/></testcase>
  </testsuite>
  <testsuite name="io" tests="3" failures="1" errors="1">
    <testcase name="reads"><system-out>ok &#x2713;</system-out></testcase>
    <testcase name="writes"><error message="EIO"/></testcase>
    <testcase name="flaky"><skipped/><failure/></testcase>
  </testsuite>
</testsuites>`);
    expect(r).toEqual({ tests: 6, passed: 2, failed: 3, skipped: 1 });
  });

  it('counts nested suites (PHPUnit style) without double counting', () => {
    const r = sum(`<testsuites><testsuite tests="3"><testsuite tests="2"><testcase/><testcase/></testsuite><testsuite tests="1"><testcase><skipped/></testcase></testsuite></testsuite></testsuites>`);
    expect(r).toEqual({ tests: 3, passed: 2, failed: 0, skipped: 1 });
    const attrsOnly = sum(`<testsuites><testsuite tests="3" failures="1"><testsuite tests="2" failures="1"/><testsuite tests="1"/></testsuite></testsuites>`);
    expect(attrsOnly).toEqual({ tests: 3, passed: 2, failed: 1, skipped: 0 });
  });

  it('treats an empty report as zero tests', () => {
    expect(sum('<testsuites/>')).toEqual({ tests: 0, passed: 0, failed: 0, skipped: 0 });
    expect(sum('<testsuite name="none"></testsuite>')).toEqual({ tests: 0, passed: 0, failed: 0, skipped: 0 });
  });

  it('rejects documents that are not JUnit or whose counts are wrong', () => {
    expect(bad('<html><body/></html>')).toMatch(/root element is <html>/);
    expect(bad('<testsuite tests="-1"/>')).toMatch(/not a non-negative integer/);
    expect(bad('<testsuite tests="two"/>')).toMatch(/not a non-negative integer/);
    expect(bad('<testsuite tests="1.5"/>')).toMatch(/not a non-negative integer/);
    expect(bad('<testsuite tests="99999999999"/>')).toMatch(/not a non-negative integer|too large/);
    expect(bad('<testsuite tests="2" failures="2" skipped="1"/>')).toMatch(/do not add up/);
    expect(bad('<testsuites><testsuite tests="1" errors="3"><testcase/></testsuite></testsuites>')).toMatch(/do not add up/);
    expect(bad('<testsuite tests="2" failures="0">')).toMatch(/never closed/);
    expect(bad(Buffer.from([0x3c, 0x61, 0xff, 0x2f, 0x3e]))).toMatch(/UTF-8/);
  });

  it('summarizes a parsed tree directly', () => {
    expect(summarizeJunit({ name: 'testsuite', attrs: { tests: '1' }, children: [] })).toEqual({ tests: 1, passed: 1, failed: 0, skipped: 0 });
  });

  it('parses a large report in linear time', () => {
    const cases = Array.from({ length: 50_000 }, (_, i) => `<testcase name="t${i}">${i % 10 === 0 ? '<failure>x</failure>' : ''}</testcase>`).join('\n');
    const started = Date.now();
    const r = sum(`<testsuite tests="50000">${cases}</testsuite>`);
    expect(r).toEqual({ tests: 50_000, passed: 45_000, failed: 5_000, skipped: 0 });
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
