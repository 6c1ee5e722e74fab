// Newline-delimited JSON stream parsing for long-lived gateway responses (the bus subscription).
//
// Owns: splitting a byte stream into JSON values, and turning bus stream items
// (`{"result": v1Message}` | `{"error": rpcStatus}`) into BusMessages or GatewayErrors.
// Invariants:
//   - Lines are split on the byte 0x0A before UTF-8 decoding, so a multi-byte character split
//     across chunks is never corrupted; a trailing "\r" is tolerated; blank lines are skipped
//     (servers may send them as keep-alives).
//   - A line that is not valid JSON, or longer than `maxLineBytes`, is a BAD_RESPONSE GatewayError.
//   - An `{"error": …}` item ends the stream with the GatewayError it describes.
// Callers: client/http-gateway-client.ts (busSubscribe); unit tests.
import { isRpcStatus } from '../protocol/rpc-status.js';
import type { Message } from '../protocol/types.js';
import type { BusMessage } from './gateway-client.js';
import { GatewayError } from './gateway-error.js';

/** Default bound on one NDJSON line: a bus message is small; this only stops runaway buffering. */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024;

/** Incremental NDJSON splitter: push chunks, get back the complete values they finish. */
export class NdjsonParser {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly maxLineBytes: number = DEFAULT_MAX_LINE_BYTES,
    private readonly operation?: string,
  ) {}

  /** Feed one chunk; returns every value whose line the chunk completed. */
  push(chunk: Buffer | Uint8Array | string): unknown[] {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const out: unknown[] = [];
    let nl = buf.indexOf(0x0a);
    while (nl !== -1) {
      const piece = buf.subarray(0, nl);
      const line = this.pending.length ? Buffer.concat([...this.pending, piece]) : piece;
      this.pending = [];
      this.pendingBytes = 0;
      this.checkLength(line.length);
      const v = this.parseLine(line);
      if (v !== undefined) out.push(v);
      buf = buf.subarray(nl + 1);
      nl = buf.indexOf(0x0a);
    }
    if (buf.length) {
      this.pendingBytes += buf.length;
      this.checkLength(this.pendingBytes);
      this.pending.push(Buffer.from(buf)); // copy: the caller may reuse its chunk
    }
    return out;
  }

  /** The stream ended: returns the value of a final line without a trailing newline, if any. */
  end(): unknown[] {
    if (!this.pending.length) return [];
    const line = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    const v = this.parseLine(line);
    return v === undefined ? [] : [v];
  }

  private checkLength(n: number): void {
    if (n > this.maxLineBytes) throw GatewayError.badResponse(`stream line longer than ${this.maxLineBytes} bytes`, this.operation);
  }

  private parseLine(line: Buffer): unknown {
    let text = line.toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (!text.trim()) return undefined;
    try {
      return JSON.parse(text);
    } catch (e) {
      throw GatewayError.badResponse(`stream line is not valid JSON: ${text.slice(0, 80)}`, this.operation, e);
    }
  }
}

/** Parse every NDJSON value of a byte stream. */
export async function* parseNdjson(source: AsyncIterable<Buffer | Uint8Array | string>, opts: { maxLineBytes?: number; operation?: string } = {}): AsyncGenerator<unknown> {
  const parser = new NdjsonParser(opts.maxLineBytes, opts.operation);
  for await (const chunk of source) yield* parser.push(chunk);
  yield* parser.end();
}

/** Decode one wire bus message (base64 payload) into a BusMessage. */
export function decodeBusMessage(m: Message): BusMessage {
  return { ...m, payload: Buffer.from(m.payload ?? '', 'base64') };
}

/**
 * Turn one bus stream item into a message, or throw the GatewayError an `{"error": …}` item
 * carries. Anything else is a BAD_RESPONSE.
 */
export function busItemToMessage(item: unknown, operation?: string): BusMessage {
  if (typeof item === 'object' && item !== null) {
    const o = item as { result?: unknown; error?: unknown };
    if (o.error !== undefined) {
      if (isRpcStatus(o.error)) throw GatewayError.fromStatus(o.error as { code: number; message: string; details?: unknown[] }, operation);
      throw GatewayError.badResponse('stream error item without a google.rpc.Status', operation);
    }
    if (typeof o.result === 'object' && o.result !== null && typeof (o.result as Message).messageId === 'string') {
      return decodeBusMessage(o.result as Message);
    }
  }
  throw GatewayError.badResponse('stream item is neither {"result": message} nor {"error": status}', operation);
}

/** Bus messages from a raw NDJSON byte stream; an error item rejects the iteration. */
export async function* parseBusStream(source: AsyncIterable<Buffer | Uint8Array | string>, opts: { maxLineBytes?: number; operation?: string } = {}): AsyncGenerator<BusMessage> {
  for await (const item of parseNdjson(source, opts)) yield busItemToMessage(item, opts.operation);
}
