// Counters since gateway start (GET /v1/metrics/cas). blobsStored/bytesStored are seeded from the
// database at start so they describe what is on disk, the rest count from zero.
export class Counters {
  blobsStored = 0;
  bytesStored = 0;
  blobsServed = 0;
  bytesServed = 0;
  /** Content bytes received from clients (batch writes, patch data segments). */
  bytesReceived = 0;
}
