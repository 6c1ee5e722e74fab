// Reading requests and writing responses at the HTTP edge: the request target's percent-escapes,
// the body (size cap, stall timeout, UTF-8, lone surrogates), JSON and Status responses, and
// telling a client that went away from a real failure.
//
// Invariants:
//  - A request target with a malformed percent-escape, or one that decodes to bytes that are not
//    UTF-8, is INVALID_ARGUMENT (400) before any route runs — never a 404/501 guess.
//  - A JSON body must be UTF-8 and may not contain a lone surrogate (`"\ud800"`) in any string or
//    key: INVALID_ARGUMENT, so no ill-formed name ever reaches the store.
//  - A body that stops arriving for `idleMs` is answered 408 (DEADLINE_EXCEEDED) and the
//    connection is closed; a body larger than `maxBytes` is RESOURCE_EXHAUSTED.
//  - A client that disconnects mid-body is ClientGoneError: logged as one info line, not an error.
// Callers: server.ts.
import type * as http from 'node:http';
import { isUtf8 } from 'node:buffer';
import { ApiError, quote } from './api-error.js';
import { isWellFormed } from './validate.js';
import { RpcCode } from '../../protocol/rpc-status.js';

/** The client closed the connection before its request was read: nothing to answer. */
export class ClientGoneError extends Error {
  readonly code = 'AETHER_CLIENT_GONE';
  constructor(message = 'client disconnected before the request body was read') {
    super(message);
    this.name = 'ClientGoneError';
  }
}

const badTarget = (what: string) => new ApiError(RpcCode.INVALID_ARGUMENT, `request ${what} has a malformed percent-escape or is not UTF-8 once decoded`);

/**
 * Check the raw request target (`req.url`): every `%` starts a valid escape and every decoded
 * component is UTF-8. URL/URLSearchParams would silently keep "%zz" or substitute U+FFFD.
 */
export function checkRequestTarget(rawUrl: string): void {
  const q = rawUrl.indexOf('?');
  const pathPart = q < 0 ? rawUrl : rawUrl.slice(0, q);
  try {
    decodeURIComponent(pathPart);
  } catch {
    throw badTarget('path');
  }
  if (q < 0) return;
  for (const piece of rawUrl.slice(q + 1).split(/[&=]/)) {
    if (!piece.includes('%')) continue;
    try {
      decodeURIComponent(piece.replace(/\+/g, ' '));
    } catch {
      throw badTarget('query');
    }
  }
}

export interface BodyLimits {
  maxBytes: number;
  /** Longest gap between two body chunks, ms (0 = none). */
  idleMs: number;
}

/** Read the whole body, enforcing `limits`. Rejects with ClientGoneError when the client leaves. */
export function readBody(req: http.IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (err: Error | undefined, value?: Buffer) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (err) reject(err);
      else resolve(value!);
    };
    const arm = () => {
      if (!limits.idleMs) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        req.pause();
        finish(new ApiError(RpcCode.DEADLINE_EXCEEDED, `request body stalled: no data for ${limits.idleMs} ms`, [], { httpStatus: 408 }));
      }, limits.idleMs);
    };
    const onData = (c: Buffer) => {
      total += c.length;
      if (total > limits.maxBytes) {
        req.pause();
        finish(new ApiError(RpcCode.RESOURCE_EXHAUSTED, `request body larger than ${limits.maxBytes} bytes`));
        return;
      }
      chunks.push(c);
      arm();
    };
    const onEnd = () => finish(undefined, Buffer.concat(chunks));
    const onError = () => finish(new ClientGoneError());
    const onClose = () => finish(new ClientGoneError());
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
    arm();
  });
}

/** The first string (value or key) in `v` that is not well-formed, as a field path, or undefined. */
function illFormedField(v: unknown, at: string, depth = 0): string | undefined {
  if (typeof v === 'string') return isWellFormed(v) ? undefined : at || '(body)';
  if (typeof v !== 'object' || v === null || depth > 64) return undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const f = illFormedField(v[i], `${at}[${i}]`, depth + 1);
      if (f) return f;
    }
    return undefined;
  }
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    const name = at ? `${at}.${k}` : k;
    if (!isWellFormed(k)) return quote(name);
    const f = illFormedField(val, name, depth + 1);
    if (f) return f;
  }
  return undefined;
}

/** Parse a JSON request body into an object (`{}` when empty), or throw INVALID_ARGUMENT. */
export function parseJsonBody(raw: Buffer): Record<string, unknown> {
  if (raw.length === 0) return {};
  if (!isUtf8(raw)) throw new ApiError(RpcCode.INVALID_ARGUMENT, 'request body is not valid UTF-8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new ApiError(RpcCode.INVALID_ARGUMENT, 'request body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ApiError(RpcCode.INVALID_ARGUMENT, 'request body must be a JSON object');
  }
  // Only a \uD800–\uDFFF escape can produce a lone surrogate (the bytes are valid UTF-8), so the
  // walk runs only for bodies that contain one.
  if (raw.includes('\\ud') || raw.includes('\\uD')) {
    const field = illFormedField(parsed, '');
    if (field) throw new ApiError(RpcCode.INVALID_ARGUMENT, `${field} is not well-formed Unicode (it contains a lone surrogate)`);
  }
  return parsed as Record<string, unknown>;
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': data.length, ...headers });
  res.end(data);
}
