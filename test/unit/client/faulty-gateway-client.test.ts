import { describe, expect, it } from 'vitest';
import { FaultyGatewayClient, injectedStatusError } from '../../../src/client/faulty-gateway-client.js';
import type { BusMessage, GatewayClient } from '../../../src/client/gateway-client.js';
import { GatewayError, GatewayErrorCode } from '../../../src/client/gateway-error.js';
import { RpcCode } from '../../../src/protocol/rpc-status.js';

/** A tiny in-memory stand-in implementing the handful of methods these tests call. */
function stub(): GatewayClient & { closed: boolean; calls: string[] } {
  const calls: string[] = [];
  const s = {
    closed: false,
    calls,
    async getSession(id: string) {
      calls.push(`getSession:${id}`);
      return { id, status: 'SESSION_STATUS_ACTIVE', createdAt: 't', lastActivityAt: 't' };
    },
    async getBlob(_s: string, _h: string) {
      calls.push('getBlob');
      return Buffer.from('blob');
    },
    async batch() {
      calls.push('batch');
    },
    async *iterateManifest() {
      yield { path: '/a', fileType: 'VFS_FILE_TYPE_FILE' };
      yield { path: '/b', fileType: 'VFS_FILE_TYPE_FILE' };
    },
    busSubscribe(): AsyncIterable<BusMessage> {
      return (async function* () {
        yield { messageId: 'm1', sessionId: 's', topic: 't', publishedAt: 'x', payload: Buffer.from('p') };
      })();
    },
    async close() {
      s.closed = true;
    },
  };
  return s as unknown as GatewayClient & { closed: boolean; calls: string[] };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

describe('FaultyGatewayClient', () => {
  it('is a transparent pass-through without rules', async () => {
    const inner = stub();
    const f = new FaultyGatewayClient(inner);
    const client: GatewayClient = f; // fully typed as a GatewayClient
    expect((await client.getSession('s1')).id).toBe('s1');
    expect((await client.getBlob('s1', 'h')).toString()).toBe('blob');
    expect((await collect(client.iterateManifest('s1'))).map((n) => n.path)).toEqual(['/a', '/b']);
    expect(f.callCount('getSession')).toBe(1);
    expect(f.inner).toBe(inner);
  });

  it('fails the next N calls of a method with a network error by default', async () => {
    const inner = stub();
    const f = new FaultyGatewayClient(inner).failNext('getBlob', 2);
    for (let i = 0; i < 2; i++) {
      const err = await f.getBlob('s', 'h').catch((e) => e);
      expect(err).toBeInstanceOf(GatewayError);
      expect(err).toMatchObject({ code: GatewayErrorCode.UNREACHABLE, kind: 'network', rpcCode: RpcCode.UNAVAILABLE });
    }
    expect((await f.getBlob('s', 'h')).toString()).toBe('blob');
    expect(inner.calls).toEqual(['getBlob']); // failed calls never reached the inner client
    expect(f.injectedCount('getBlob')).toBe(2);
    expect(f.callCount('getBlob')).toBe(3);
    // other methods were unaffected
    await f.getSession('x');
  });

  it('fails with a given GatewayError or factory', async () => {
    const f = new FaultyGatewayClient(stub());
    f.failNext('batch', 1, injectedStatusError(RpcCode.ABORTED, 'stale'));
    await expect(f.batch('s', { operations: [] })).rejects.toMatchObject({ rpcCode: RpcCode.ABORTED, code: 'AETHER_GATEWAY_CONFLICT', httpStatus: 409, message: 'stale' });
    let n = 0;
    f.failNext('batch', 2, () => injectedStatusError(RpcCode.NOT_FOUND, `nf ${++n}`));
    await expect(f.batch('s', { operations: [] })).rejects.toThrow('nf 1');
    await expect(f.batch('s', { operations: [] })).rejects.toThrow('nf 2');
    await f.batch('s', { operations: [] });
  });

  it('fails every call matching a predicate until removed', async () => {
    const f = new FaultyGatewayClient(stub());
    const remove = f.failWhen(({ method, args }) => method === 'getSession' && args[0] === 'bad', injectedStatusError(RpcCode.PERMISSION_DENIED));
    await expect(f.getSession('bad')).rejects.toMatchObject({ kind: 'auth' });
    await expect(f.getSession('bad')).rejects.toMatchObject({ kind: 'auth' });
    expect((await f.getSession('good')).id).toBe('good');
    remove();
    expect((await f.getSession('bad')).id).toBe('bad');
  });

  it('can be toggled at runtime and reset', async () => {
    const f = new FaultyGatewayClient(stub());
    f.failWhen(() => true);
    f.setEnabled(false);
    expect(f.enabled).toBe(false);
    await f.getSession('s');
    f.setEnabled(true);
    await expect(f.getSession('s')).rejects.toBeInstanceOf(GatewayError);
    f.reset();
    await f.getSession('s');
  });

  it('adds latency to all calls or one method', async () => {
    const f = new FaultyGatewayClient(stub());
    const remove = f.addLatency(60, 'getSession');
    let t = Date.now();
    await f.getSession('s');
    expect(Date.now() - t).toBeGreaterThanOrEqual(55);
    t = Date.now();
    await f.getBlob('s', 'h');
    expect(Date.now() - t).toBeLessThan(50);
    remove();
    f.addLatency(40);
    t = Date.now();
    await f.getBlob('s', 'h');
    expect(Date.now() - t).toBeGreaterThanOrEqual(35);
  });

  it('stream methods fail on the first next()', async () => {
    const f = new FaultyGatewayClient(stub());
    f.failNext('busSubscribe', 1, injectedStatusError(RpcCode.UNAVAILABLE));
    const it = f.busSubscribe('s'); // creating the iterable does not throw
    await expect(collect(it)).rejects.toMatchObject({ rpcCode: RpcCode.UNAVAILABLE });
    expect((await collect(f.busSubscribe('s'))).map((m) => m.messageId)).toEqual(['m1']);
    f.failNext('iterateManifest');
    await expect(collect(f.iterateManifest('s'))).rejects.toMatchObject({ code: GatewayErrorCode.UNREACHABLE });
    expect(await collect(f.iterateManifest('s'))).toHaveLength(2);
  });

  it('close() delegates and is never failed', async () => {
    const inner = stub();
    const f = new FaultyGatewayClient(inner);
    f.failWhen(() => true);
    await f.close();
    expect(inner.closed).toBe(true);
  });
});
