// Request validation helpers shared by every route family: session paths, base64, int64 strings,
// page tokens, enums. Each throws ApiError(INVALID_ARGUMENT) with a message naming the field.
import { invalidArgument, quote } from './api-error.js';

/** A lone surrogate: a UTF-16 half that is not part of a pair (the `u` flag pairs the others). */
const LONE_SURROGATE = /\p{Cs}/u;

/** True when `s` is well-formed Unicode (no lone surrogates), i.e. has an exact UTF-8 form. */
export function isWellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}
import { MAX_SESSION_PATH_BYTES, NAME_MAX_BYTES } from '../../shared/path-limits.js';

/**
 * Validate an absolute session path. Rejects empty, relative, `.`/`..` components, `//`,
 * a trailing slash (except the root "/"), NUL bytes, text that is not well-formed Unicode (a lone
 * surrogate has no UTF-8 form: it would appear in a mount as a duplicate, unopenable name) and
 * over-long names.
 */
export function normalizePath(p: unknown, field = 'path', opts: { allowRoot?: boolean } = {}): string {
  if (typeof p !== 'string' || p.length === 0) throw invalidArgument(`${field} is required`);
  if (!p.startsWith('/')) throw invalidArgument(`${field} must be absolute (start with "/"): ${quote(p)}`);
  if (p.includes('\0')) throw invalidArgument(`${field} must not contain NUL bytes`);
  if (!isWellFormed(p)) throw invalidArgument(`${field} is not well-formed Unicode (it contains a lone surrogate)`);
  if (p === '/') {
    if (opts.allowRoot === false) throw invalidArgument(`${field} must not be the root directory`);
    return p;
  }
  if (p.endsWith('/')) throw invalidArgument(`${field} must not end with "/": ${quote(p)}`);
  const parts = p.slice(1).split('/');
  for (const part of parts) {
    if (part === '') throw invalidArgument(`${field} must not contain "//": ${quote(p)}`);
    if (part === '.' || part === '..') throw invalidArgument(`${field} must not contain "." or ".." components: ${quote(p)}`);
    if (Buffer.byteLength(part) > NAME_MAX_BYTES) throw invalidArgument(`${field} has a component longer than ${NAME_MAX_BYTES} bytes`);
  }
  if (Buffer.byteLength(p) > MAX_SESSION_PATH_BYTES) throw invalidArgument(`${field} is longer than ${MAX_SESSION_PATH_BYTES} bytes`);
  return p;
}

/** Split a validated path into components ("/" → []). */
export function splitPath(p: string): string[] {
  return p === '/' ? [] : p.slice(1).split('/');
}

export function joinPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

export function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

export function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

/** True when `p` equals `prefix` or lies beneath it (path-boundary aware). */
export function isUnder(p: string, prefix: string): boolean {
  if (prefix === '/') return true;
  return p === prefix || p.startsWith(prefix + '/');
}

/** Strip trailing "=" padding without a regex (multi-megabyte strings). */
function unpad(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 61 /* = */) end--;
  return s.slice(0, end);
}

/**
 * Decode a proto3-JSON `bytes` field (standard or URL-safe base64, padding optional). Missing →
 * empty buffer. Strictness without regexes over the payload: decode natively, re-encode, and
 * compare — any character outside the alphabet (which the decoder would skip) makes them differ.
 */
export function parseBytes(v: unknown, field: string): Buffer {
  if (v === undefined || v === null || v === '') return Buffer.alloc(0);
  if (typeof v !== 'string') throw invalidArgument(`${field} must be a base64 string`);
  const tryDecode = (str: string): Buffer | undefined => {
    const body = unpad(str);
    if (str.length - body.length > 2 || body.length % 4 === 1) return undefined;
    if (str.length !== body.length && str.length % 4 !== 0) return undefined;
    for (const enc of ['base64', 'base64url'] as const) {
      const buf = Buffer.from(body, enc);
      if (unpad(buf.toString(enc)) === body) return buf;
    }
    return undefined;
  };
  let out = tryDecode(v);
  if (!out && /\s/.test(v)) out = tryDecode(v.replace(/\s+/g, ''));
  if (!out) throw invalidArgument(`${field} is not valid base64`);
  return out;
}

/** Parse a proto3-JSON int64 (string or number). Missing → `dflt`. */
export function parseInt64(v: unknown, field: string, dflt = 0, opts: { min?: number; max?: number } = {}): number {
  if (v === undefined || v === null || v === '') return dflt;
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) n = Number(v.trim());
  else throw invalidArgument(`${field} must be an integer`);
  if (!Number.isSafeInteger(n)) throw invalidArgument(`${field} is out of range`);
  const min = opts.min ?? Number.MIN_SAFE_INTEGER;
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  if (n < min || n > max) throw invalidArgument(`${field} must be between ${min} and ${max}`);
  return n;
}

export function parseBool(v: unknown, field: string, dflt = false): boolean {
  if (v === undefined || v === null || v === '') return dflt;
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw invalidArgument(`${field} must be true or false`);
}

export function requireString(v: unknown, field: string, opts: { allowEmpty?: boolean; maxLength?: number } = {}): string {
  if (v === undefined || v === null) {
    if (opts.allowEmpty) return '';
    throw invalidArgument(`${field} is required`);
  }
  if (typeof v !== 'string') throw invalidArgument(`${field} must be a string`);
  if (!opts.allowEmpty && v.length === 0) throw invalidArgument(`${field} is required`);
  if (opts.maxLength !== undefined && v.length > opts.maxLength) throw invalidArgument(`${field} is longer than ${opts.maxLength} characters`);
  return v;
}

export function optionalString(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw invalidArgument(`${field} must be a string`);
  return v;
}

export function parseEnum<T extends string>(v: unknown, field: string, allowed: readonly T[], dflt?: T): T {
  if ((v === undefined || v === null || v === '') && dflt !== undefined) return dflt;
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  throw invalidArgument(`${field} must be one of ${allowed.join(', ')}`);
}

export function parseStringMap(v: unknown, field: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw invalidArgument(`${field} must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (typeof val !== 'string') throw invalidArgument(`${field}.${k} must be a string`);
    out[k] = val;
  }
  return out;
}

export function parseObject(v: unknown, field: string): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw invalidArgument(`${field} must be an object`);
  return v as Record<string, unknown>;
}

export function parseArray(v: unknown, field: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalidArgument(`${field} must be an array`);
  return v;
}

/** Opaque page tokens: base64url JSON. A token that does not decode is INVALID_ARGUMENT. */
export function encodePageToken(state: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(state)).toString('base64url');
}

export function decodePageToken<T extends Record<string, unknown>>(v: unknown, check: (t: Record<string, unknown>) => boolean): T | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || !/^[A-Za-z0-9_=-]+$/.test(v)) throw invalidArgument('pageToken is invalid');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(v, 'base64url').toString('utf8'));
  } catch {
    throw invalidArgument('pageToken is invalid');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !check(parsed as Record<string, unknown>)) {
    throw invalidArgument('pageToken is invalid');
  }
  return parsed as T;
}

export function parsePageSize(v: unknown, dflt: number, max: number): number {
  const n = parseInt64(v, 'pageSize', dflt, { min: 0, max: 1_000_000 });
  if (n === 0) return dflt;
  return Math.min(n, max);
}

/** RFC 3339 timestamp → epoch ms. */
export function parseTimestamp(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v)) {
    throw invalidArgument(`${field} must be an RFC 3339 timestamp`);
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalidArgument(`${field} must be an RFC 3339 timestamp`);
  return t;
}

/** Epoch ms → RFC 3339 UTC without fractional seconds when whole. */
export function formatTimestamp(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith('.000Z') ? iso.slice(0, -5) + 'Z' : iso;
}
