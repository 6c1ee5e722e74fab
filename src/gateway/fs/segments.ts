// Segment mutations (v1SegmentMutation: patchSegments and batch segmentWrite): parsing the request
// and computing a file's new extents. Only new bytes are stored: untouched ranges remain references
// into their blobs, holes stay sparse and borrowed segments point at blobs the tenant already
// holds. The new content hash is computed by streaming the final extents from the local CAS.
// Callers: routes/files.ts.
import type { GatewayCore } from '../core.js';
import type { Extent } from '../store/tree-store.js';
import { failedPrecondition, invalidArgument, outOfRange } from '../http/api-error.js';
import { normalizePath, parseArray, parseBytes, parseInt64, parseObject } from '../http/validate.js';
import { EMPTY_HASH, isContentHash } from '../../shared/digest.js';
import { parseExpectedHash, parsePerm } from './mutation.js';
import { blob, data, fromExtents, hole, normalize, planStore, resize, sizeOf, splice, toExtents, type Piece } from './extents.js';

/**
 * Largest file a mutation may produce. Why a cap at all: the content hash covers every byte, holes
 * included, so a 1 PiB sparse file would take days to hash under the session lock.
 */
export const MAX_FILE_SIZE = 64 * 1024 ** 3;

export type SegmentSpec =
  | { kind: 'data'; offset: number; buf: Buffer }
  | { kind: 'hole'; offset: number; length: number }
  | { kind: 'borrowed'; offset: number; length: number; hash: string; casOffset: number };

export interface SegmentMutationSpec {
  path: string;
  segments: SegmentSpec[];
  /**
   * Final size (truncate or zero-extend), when the request gives one. Absent = no resize: the file
   * keeps the size the segments leave it, max(current size, end of the furthest segment), so a
   * client that omits the field never truncates a file by accident. An explicit "0" truncates.
   */
  logicalSize: number | undefined;
  expectedHash: string;
  /** Permission bits, 0 = keep / default. */
  perm: number | undefined;
}

const offsetOpts = { min: 0, max: MAX_FILE_SIZE };

/** Parse one segment: exactly one of data, hole, borrowed. */
export function parseSegment(v: unknown, field: string): SegmentSpec {
  const o = parseObject(v, field);
  const kinds = (['data', 'hole', 'borrowed'] as const).filter((k) => o[k] !== undefined && o[k] !== null);
  if (kinds.length !== 1) throw invalidArgument(`${field} must set exactly one of data, hole or borrowed`);
  const kind = kinds[0]!;
  const s = parseObject(o[kind], `${field}.${kind}`);
  const offset = parseInt64(s.offset, `${field}.${kind}.offset`, 0, offsetOpts);
  if (kind === 'data') {
    const buf = parseBytes(s.content, `${field}.data.content`);
    if (offset + buf.length > MAX_FILE_SIZE) throw outOfRange(`${field}.data ends past the maximum file size (${MAX_FILE_SIZE} bytes)`);
    return { kind, offset, buf };
  }
  const length = parseInt64(s.length, `${field}.${kind}.length`, 0, offsetOpts);
  if (offset + length > MAX_FILE_SIZE) throw outOfRange(`${field}.${kind} ends past the maximum file size (${MAX_FILE_SIZE} bytes)`);
  if (kind === 'hole') return { kind, offset, length };
  const hash = s.hash;
  if (!isContentHash(hash)) throw invalidArgument(`${field}.borrowed.hash must be a sha256:<64 hex> blob hash`);
  const casOffset = parseInt64(s.casOffset, `${field}.borrowed.casOffset`, 0, offsetOpts);
  return { kind, offset, length, hash, casOffset };
}

/** Parse a v1SegmentMutation (the request shape is validated completely before anything runs). */
export function parseSegmentMutation(v: unknown, field: string): SegmentMutationSpec {
  const o = parseObject(v, field);
  if (o.path === undefined) throw invalidArgument(`${field}.path is required`);
  const path = normalizePath(o.path, `${field}.path`, { allowRoot: false });
  const segments = parseArray(o.segments, `${field}.segments`).map((s, i) => parseSegment(s, `${field}.segments[${i}]`));
  const absent = o.logicalSize === undefined || o.logicalSize === null || o.logicalSize === '';
  const logicalSize = absent ? undefined : parseInt64(o.logicalSize, `${field}.logicalSize`, 0, offsetOpts);
  return { path, segments, logicalSize, expectedHash: parseExpectedHash(o.expectedHash, `${field}.expectedHash`), perm: parsePerm(o.mode, `${field}.mode`) };
}

/** Bytes of new content a mutation carries (for the bytesReceived counter). */
export function receivedBytes(spec: SegmentMutationSpec): number {
  let n = 0;
  for (const s of spec.segments) if (s.kind === 'data') n += s.buf.length;
  return n;
}

/**
 * Check every borrowed segment: the blob must be one the tenant references (else
 * FAILED_PRECONDITION, the same answer for a blob that does not exist) and the range must lie
 * inside it (else INVALID_ARGUMENT).
 */
export async function checkBorrowed(core: GatewayCore, tenantId: string, spec: SegmentMutationSpec, field: string): Promise<void> {
  for (const [i, s] of spec.segments.entries()) {
    if (s.kind !== 'borrowed' || s.length === 0) continue;
    const size = core.content.tenantHas(tenantId, s.hash) ? await core.content.blobs.size(s.hash) : undefined;
    if (size === undefined) throw failedPrecondition(`${field}.segments[${i}].borrowed.hash ${s.hash} is not a blob this tenant can read`);
    if (s.casOffset + s.length > size) {
      throw invalidArgument(`${field}.segments[${i}].borrowed range [${s.casOffset}, ${s.casOffset + s.length}) lies past the end of the blob (${size} bytes)`);
    }
  }
}

/** Splice the segments over the current extents, then apply logicalSize if given. Pure; nothing is stored. */
export function splicedPieces(old: readonly Extent[], spec: SegmentMutationSpec): Piece[] {
  let pieces = fromExtents(old);
  for (const s of spec.segments) {
    if (s.kind === 'data') {
      if (s.buf.length) pieces = splice(pieces, s.offset, [data(s.buf)]);
    } else if (s.length > 0) {
      pieces = splice(pieces, s.offset, [s.kind === 'hole' ? hole(s.length) : blob(s.hash, s.casOffset, s.length)]);
    }
  }
  return spec.logicalSize === undefined ? normalize(pieces) : resize(pieces, spec.logicalSize);
}

/** The bytes of some pieces (new data from memory, stored ranges from the local CAS, holes as zeros). */
async function materialize(core: GatewayCore, pieces: readonly Piece[]): Promise<Buffer> {
  if (pieces.length === 1 && pieces[0]!.kind === 'data') {
    const p = pieces[0]!;
    return p.buf.subarray(p.o, p.o + p.n);
  }
  const parts: Buffer[] = [];
  for (const p of pieces) {
    if (p.kind === 'data') parts.push(p.buf.subarray(p.o, p.o + p.n));
    else if (p.kind === 'hole') parts.push(Buffer.alloc(p.n));
    else parts.push(await core.content.blobs.read(p.h, p.o, p.n));
  }
  return Buffer.concat(parts);
}

/**
 * Store what a spliced file needs (new data, coalesced tiny runs) and return its final extents,
 * size and content hash.
 */
export async function storePieces(core: GatewayCore, tenantId: string, pieces: readonly Piece[]): Promise<{ x: Extent[]; s: number; h: string }> {
  const out: Piece[] = [];
  for (const step of planStore(pieces)) {
    if ('keep' in step) {
      out.push(step.keep);
      continue;
    }
    const bytes = await materialize(core, step.store);
    for (const x of await core.content.putContent(tenantId, bytes)) out.push(blob(x.h, x.o, x.n));
  }
  const x = toExtents(normalize(out));
  const s = sizeOf(out);
  const h = s === 0 ? EMPTY_HASH : await core.content.hashOf(x);
  return { x, s, h };
}
