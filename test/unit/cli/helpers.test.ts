// Argument helpers: times, durations, key=value, PATH[:LINE], authors, session paths, event types.
import { describe, expect, it } from 'vitest';
import { parseDurationSeconds, parseKeyValues, parseTime, intOption } from '../../../src/cli/command.js';
import { parsePathLine } from '../../../src/cli/commands/review.js';
import { parseAuthor } from '../../../src/cli/commands/commit.js';
import { parseEventType } from '../../../src/cli/commands/events.js';
import { toSessionPath } from '../../../src/cli/mount-context.js';

describe('parseTime', () => {
  const now = Date.UTC(2026, 2, 11, 9, 0, 0);
  it('accepts RFC 3339, dates, now and ages', () => {
    expect(parseTime('2026-03-11T08:00:00Z', '--since', now)).toBe('2026-03-11T08:00:00Z');
    expect(parseTime('2026-03-11T08:00:00+01:00', '--since', now)).toBe('2026-03-11T07:00:00Z');
    expect(parseTime('2026-03-01', '--since', now)).toBe('2026-03-01T00:00:00Z');
    expect(parseTime('now', '--until', now)).toBe('2026-03-11T09:00:00Z');
    expect(parseTime('30m', '--since', now)).toBe('2026-03-11T08:30:00Z');
    expect(parseTime('2h', '--since', now)).toBe('2026-03-11T07:00:00Z');
    expect(parseTime('7d', '--since', now)).toBe('2026-03-04T09:00:00Z');
    expect(parseTime('now', '--until', now + 123)).toBe('2026-03-11T09:00:00.123Z');
  });
  it('rejects anything else as a usage error', () => {
    expect(() => parseTime('yesterday', '--since')).toThrow(/--since expects a time/);
    expect(() => parseTime('1700000000', '--since')).toThrow();
  });
});

describe('durations, key=value, integers', () => {
  it('parseDurationSeconds', () => {
    expect(parseDurationSeconds('300', '--ttl')).toBe(300);
    expect(parseDurationSeconds('90s', '--ttl')).toBe(90);
    expect(parseDurationSeconds('15m', '--ttl')).toBe(900);
    expect(parseDurationSeconds('2h', '--ttl')).toBe(7200);
    expect(parseDurationSeconds('1d', '--ttl')).toBe(86400);
    expect(() => parseDurationSeconds('-1', '--ttl')).toThrow(/--ttl expects a duration/);
    expect(() => parseDurationSeconds('1.5h', '--ttl')).toThrow();
  });
  it('parseKeyValues keeps "=" in values and rejects empty keys', () => {
    expect(parseKeyValues(['a=1', 'b=x=y', 'c='], '--tag')).toEqual({ a: '1', b: 'x=y', c: '' });
    expect(parseKeyValues(undefined, '--tag')).toBeUndefined();
    expect(() => parseKeyValues(['=v'], '--tag')).toThrow(/--tag expects key=value/);
  });
  it('intOption', () => {
    expect(intOption('--n', 1)('5')).toBe(5);
    expect(() => intOption('--n', 1)('0')).toThrow(/--n must be an integer >= 1/);
    expect(() => intOption('--n')('1e3')).toThrow();
  });
});

describe('PATH[:LINE] and session paths', () => {
  it('parsePathLine', () => {
    expect(parsePathLine('/src/main.ts:42')).toEqual({ path: '/src/main.ts', line: 42 });
    expect(parsePathLine('/src/main.ts')).toEqual({ path: '/src/main.ts' });
    expect(parsePathLine('/a:b/c.ts:7')).toEqual({ path: '/a:b/c.ts', line: 7 });
    expect(() => parsePathLine('/a.ts:0')).toThrow(/start at 1/);
  });
  it('toSessionPath outside a mount', () => {
    expect(toSessionPath('src/main.ts', '/anywhere', undefined)).toBe('/src/main.ts');
    expect(toSessionPath('/src/./x/../main.ts/', '/anywhere', undefined)).toBe('/src/main.ts');
    expect(toSessionPath('/', '/anywhere', undefined)).toBe('/');
  });
  it('toSessionPath inside a mount', () => {
    const m = { sessionId: 's', mountPoint: '/home/u/ws', sessionPath: '/src' };
    expect(toSessionPath('main.ts', '/home/u/ws/src', m)).toBe('/src/main.ts');
    expect(toSessionPath('../README.md', '/home/u/ws/src', m)).toBe('/README.md');
    expect(toSessionPath('/home/u/ws/src/a.ts', '/home/u/ws/src', m)).toBe('/src/a.ts');
    expect(toSessionPath('/lib/b.ts', '/home/u/ws/src', m)).toBe('/lib/b.ts');
  });
});

describe('authors and event types', () => {
  it('parseAuthor', () => {
    expect(parseAuthor('Alice Example <alice@example.com>')).toEqual({ name: 'Alice Example', email: 'alice@example.com' });
    expect(parseAuthor('<a@b.c>')).toEqual({ email: 'a@b.c' });
    expect(parseAuthor('a@b.c')).toEqual({ email: 'a@b.c' });
    expect(parseAuthor('Alice')).toEqual({ name: 'Alice' });
    expect(() => parseAuthor('  ')).toThrow();
  });
  it('parseEventType accepts full names and unique suffixes', () => {
    expect(parseEventType('v1.FileSystemService.Rename')).toBe('v1.FileSystemService.Rename');
    expect(parseEventType('addannotation')).toBe('v1.AnnotationService.AddAnnotation');
    expect(() => parseEventType('Frobnicate')).toThrow(/unknown event type/);
  });
});
