// FaultyGatewayClient around the real HttpGatewayClient: injected failures look exactly like
// real ones to callers, and disappear when switched off.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpGatewayClient } from '../../../src/client/http-gateway-client.js';
import { FaultyGatewayClient, injectedStatusError } from '../../../src/client/faulty-gateway-client.js';
import type { GatewayClient } from '../../../src/client/gateway-client.js';
import { GatewayError } from '../../../src/client/gateway-error.js';
import { RpcCode } from '../../../src/protocol/rpc-status.js';
import { startTestGateway, type TestGateway } from '../../helpers/start-gateway.js';

let gw: TestGateway;
let http: HttpGatewayClient;
let faulty: FaultyGatewayClient;
let client: GatewayClient;

beforeAll(async () => {
  gw = await startTestGateway();
  http = new HttpGatewayClient({ baseUrl: gw.url, token: gw.token });
  faulty = new FaultyGatewayClient(http);
  client = faulty;
});

afterAll(async () => {
  await client?.close();
  await gw?.close();
});

describe('FaultyGatewayClient over HTTP', () => {
  it('passes through, then fails the next calls, then recovers', async () => {
    const s = await client.createSession({ initialTags: { t: 'faulty' } });
    faulty.failNext('getSession', 2, 'network');
    await expect(client.getSession(s.id)).rejects.toMatchObject({ code: 'AETHER_GATEWAY_UNREACHABLE' });
    await expect(client.getSession(s.id)).rejects.toBeInstanceOf(GatewayError);
    expect((await client.getSession(s.id)).id).toBe(s.id);
  });

  it('a predicate fails only matching writes; real errors still come through', async () => {
    const s = await client.createSession();
    const stop = faulty.failWhen(({ method, args }) => method === 'batch' && args[0] === s.id, injectedStatusError(RpcCode.RESOURCE_EXHAUSTED, 'disk full'));
    await expect(client.batch(s.id, { operations: [{ write: { path: '/a', content: Buffer.from('a') } }] })).rejects.toMatchObject({ rpcCode: RpcCode.RESOURCE_EXHAUSTED });
    stop();
    await client.batch(s.id, { operations: [{ write: { path: '/a', content: Buffer.from('a') } }] });
    await expect(client.getSession('sess_missing')).rejects.toMatchObject({ rpcCode: RpcCode.NOT_FOUND });
  });

  it('latency and bus stream failures', async () => {
    const s = await client.createSession();
    faulty.addLatency(100, 'getManifest');
    const t = Date.now();
    await client.getManifest(s.id);
    expect(Date.now() - t).toBeGreaterThanOrEqual(95);
    faulty.reset();
    faulty.failNext('busSubscribe', 1, injectedStatusError(RpcCode.UNAVAILABLE));
    const run = async () => {
      for await (const _ of client.busSubscribe(s.id)) void _;
    };
    await expect(run()).rejects.toMatchObject({ rpcCode: RpcCode.UNAVAILABLE });
    expect(faulty.injectedCount('busSubscribe')).toBe(1);
  });
});
