import { describe, expect, it } from 'vitest';
import { NdjsonParser, parseBusStream, parseNdjson, busItemToMessage } from '../../../src/client/ndjson.js';
import { GatewayError, GatewayErrorCode } from '../../../src/client/gateway-error.js';
import { RpcCode } from '../../../src/protocol/rpc-status.js';

async function* chunks(...parts: Array<string | Buffer>): AsyncGenerator<Buffer> {
  for (const p of parts) yield typeof p === 'string' ? Buffer.from(p) : p;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

const msg = (id: string, payload: string, topic = 't') => ({
  result: { messageId: id, sessionId: 's1', topic, payload: Buffer.from(payload).toString('base64'), senderId: 'w', publishedAt: '2026-03-11T08:44:10Z' },
});

describe('NdjsonParser', () => {
  it('parses complete lines in one chunk', () => {
    const p = new NdjsonParser();
    expect(p.push('{"a":1}\n{"b":2}\n')).toEqual([{ a: 1 }, { b: 2 }]);
    expect(p.end()).toEqual([]);
  });

  it('joins a line split across many chunks', () => {
    const p = new NdjsonParser();
    expect(p.push('{"a"')).toEqual([]);
    expect(p.push(':12')).toEqual([]);
    expect(p.push('3}\n{"b"')).toEqual([{ a: 123 }]);
    expect(p.push(':true}\n')).toEqual([{ b: true }]);
  });

  it('keeps a multi-byte UTF-8 character split between chunks intact', () => {
    const line = Buffer.from('{"s":"héllo €"}\n');
    const euro = line.indexOf(0xe2); // first byte of "€"
    const p = new NdjsonParser();
    expect(p.push(line.subarray(0, euro + 1))).toEqual([]);
    expect(p.push(line.subarray(euro + 1))).toEqual([{ s: 'héllo €' }]);
  });

  it('skips blank keep-alive lines and tolerates CRLF', () => {
    const p = new NdjsonParser();
    expect(p.push('\n\r\n{"a":1}\r\n   \n{"b":2}\n')).toEqual([{ a: 1 }, { b: 2 }]);
  });

  it('returns a final line without a trailing newline at end()', () => {
    const p = new NdjsonParser();
    expect(p.push('{"a":1}\n{"b":')).toEqual([{ a: 1 }]);
    expect(p.push('2}')).toEqual([]);
    expect(p.end()).toEqual([{ b: 2 }]);
  });

  it('does not keep a reference to a reused chunk buffer', () => {
    const p = new NdjsonParser();
    const buf = Buffer.from('{"x":"ab');
    p.push(buf);
    buf.fill(0x20);
    expect(p.push('c"}\n')).toEqual([{ x: 'abc' }]);
  });

  it('rejects invalid JSON with a BAD_RESPONSE GatewayError', () => {
    const p = new NdjsonParser();
    try {
      p.push('{"a":1}\nnot json\n');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(GatewayError);
      expect((e as GatewayError).code).toBe(GatewayErrorCode.BAD_RESPONSE);
    }
  });

  it('bounds the length of a line', () => {
    const p = new NdjsonParser(16);
    expect(() => p.push('{"a":"0123456789012345"}\n')).toThrow(/longer than 16/);
    const q = new NdjsonParser(16);
    expect(() => q.push('{"a":"0123456789012345')).toThrow(GatewayError); // unterminated too
  });

  it('parseNdjson works over an async byte stream', async () => {
    expect(await collect(parseNdjson(chunks('[1]\n[', '2]\n', '[3]')))).toEqual([[1], [2], [3]]);
  });
});

describe('bus stream items', () => {
  it('decodes result items to messages with Buffer payloads', async () => {
    const lines = [msg('m1', '{"status":"ready"}'), msg('m2', 'two', 'tests:complete')].map((m) => JSON.stringify(m) + '\n').join('');
    const out = await collect(parseBusStream(chunks(lines.slice(0, 50), lines.slice(50))));
    expect(out.map((m) => m.messageId)).toEqual(['m1', 'm2']);
    expect(out[0]!.payload.toString()).toBe('{"status":"ready"}');
    expect(Buffer.isBuffer(out[1]!.payload)).toBe(true);
    expect(out[1]!.topic).toBe('tests:complete');
  });

  it('a missing payload decodes to an empty Buffer', () => {
    const m = busItemToMessage({ result: { messageId: 'm', sessionId: 's', topic: 't', publishedAt: 'x' } });
    expect(m.payload.length).toBe(0);
  });

  it('an {"error": status} line raises the GatewayError it carries, after earlier messages', async () => {
    const body = JSON.stringify(msg('m1', 'a')) + '\n' + JSON.stringify({ error: { code: 8, message: 'subscriber too slow', details: [] } }) + '\n';
    const seen: string[] = [];
    let err: unknown;
    try {
      for await (const m of parseBusStream(chunks(body), { operation: 'GET /v1/sessions/s/bus' })) seen.push(m.messageId);
    } catch (e) {
      err = e;
    }
    expect(seen).toEqual(['m1']);
    expect(err).toBeInstanceOf(GatewayError);
    const g = err as GatewayError;
    expect(g.rpcCode).toBe(RpcCode.RESOURCE_EXHAUSTED);
    expect(g.code).toBe(GatewayErrorCode.RESOURCE_EXHAUSTED);
    expect(g.message).toContain('subscriber too slow');
  });

  it('items that are neither result nor error are BAD_RESPONSE', () => {
    expect(() => busItemToMessage({ hello: 1 })).toThrow(GatewayError);
    expect(() => busItemToMessage({ error: 'oops' })).toThrow(/google.rpc.Status/);
    expect(() => busItemToMessage(42)).toThrow(GatewayError);
  });
});
