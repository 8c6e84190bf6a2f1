import client from 'prom-client';

/**
 * Prometheus metrics (GET /metrics). One registry per platform so several platforms in one test
 * process do not collide. Queue depths are read from the database at scrape time, so they are the
 * same whichever instance is scraped.
 */
export class Metrics {
  readonly registry = new client.Registry();
  readonly submissions = new client.Counter({
    name: 'sms_submissions_total',
    help: 'Send API requests by result (accepted or rejected) and reason (the error code)',
    labelNames: ['result', 'reason'] as const,
    registers: [this.registry],
  });
  readonly accepted = new client.Counter({
    name: 'sms_messages_accepted_total',
    help: 'Messages accepted (one per destination), by trunk id',
    labelNames: ['trunk'] as const,
    registers: [this.registry],
  });
  readonly carrierSubmit = new client.Histogram({
    name: 'sms_carrier_submit_seconds',
    help: 'Time from handing a message to a connector to its acknowledgement or failure',
    labelNames: ['connector', 'result'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly receiptToCallback = new client.Histogram({
    name: 'sms_dlr_to_callback_seconds',
    help: 'Time from a final delivery receipt to the DLR callback being accepted by the receiver (first attempt included)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly callbackAttempts = new client.Counter({
    name: 'sms_callback_attempts_total',
    help: 'Callback delivery attempts by outcome (delivered, retry, dead) and kind (status, dlr)',
    labelNames: ['outcome', 'kind'] as const,
    registers: [this.registry],
  });
  readonly receipts = new client.Counter({
    name: 'sms_receipts_total',
    help: 'Delivery receipts received from carriers, by connector and status',
    labelNames: ['connector', 'status'] as const,
    registers: [this.registry],
  });

  constructor(queueDepths: () => Promise<Record<string, number>>) {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'sms_' });
    new client.Gauge({
      name: 'sms_queue_depth',
      help: 'Work waiting in the database: messages not yet handed to a carrier, messages awaiting a final receipt, callbacks pending and dead-lettered',
      labelNames: ['queue'] as const,
      registers: [this.registry],
      async collect() {
        const depths = await queueDepths();
        for (const [queue, n] of Object.entries(depths)) this.set({ queue }, n);
      },
    });
  }
}
