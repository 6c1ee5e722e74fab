// CAS counters behind GET /v1/metrics/cas, gateway-wide and per tenant.
//
// Invariants:
//  - Gateway-wide blobsStored/bytesStored are seeded from the database at start (what is on disk)
//    and grow as new blobs land; every other figure counts from zero at gateway start.
//  - Every served/received byte is counted twice: in the gateway totals and in the tenant that
//    caused it, so the per-tenant figures of all tenants sum to the totals.
//  - A tenant's stored figures are not kept here: they are what the tenant references
//    (tenant_blobs), computed by the metrics route from the database.
// Callers: server.ts (seeding), store/content.ts (stored), routes/blobs.ts (served, metrics),
// routes/files.ts (received).

/** Traffic counted for one tenant since gateway start. */
export interface TrafficCounters {
  blobsServed: number;
  bytesServed: number;
  /** Content bytes received from clients (batch writes, patch data segments). */
  bytesReceived: number;
}

const zero = (): TrafficCounters => ({ blobsServed: 0, bytesServed: 0, bytesReceived: 0 });

export class Counters implements TrafficCounters {
  blobsStored = 0;
  bytesStored = 0;
  blobsServed = 0;
  bytesServed = 0;
  bytesReceived = 0;
  private readonly tenants = new Map<string, TrafficCounters>();

  /** The traffic counters of one tenant (zeros when it has had none). */
  tenant(tenantId: string): Readonly<TrafficCounters> {
    return this.tenants.get(tenantId) ?? zero();
  }

  private of(tenantId: string): TrafficCounters {
    let t = this.tenants.get(tenantId);
    if (!t) this.tenants.set(tenantId, (t = zero()));
    return t;
  }

  /** One blob read answered for `tenantId`, `bytes` of it sent. */
  served(tenantId: string, bytes: number): void {
    const t = this.of(tenantId);
    t.blobsServed++;
    t.bytesServed += bytes;
    this.blobsServed++;
    this.bytesServed += bytes;
  }

  /** `bytes` of file content received from a client of `tenantId`. */
  received(tenantId: string, bytes: number): void {
    if (bytes <= 0) return;
    this.of(tenantId).bytesReceived += bytes;
    this.bytesReceived += bytes;
  }
}
