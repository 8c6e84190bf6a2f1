import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { CARRIER_CODE_INTERNAL, Carrier, CarrierError, ConnectorLogger, DeliveryReceipt, OutboundSubmission, ReceiptHandler, SubmitResult } from './carrier';
import type { SmppCarrierOptions } from './smpp-connector';
import { PerTurn } from '../shared/per-turn';

/*
 * An SMPP connector on a thread of its own. At thousands of messages a second the PDU codec, the
 * window and the socket took about a sixth of the main thread (docs/PERFORMANCE.md, eighth pass),
 * the thread that also serves the send API and runs the commit rounds. ThreadedCarrier is the
 * Carrier the platform sees; the SmppCarrier runs in the thread (carrier-thread-worker.ts), with
 * the same guarantees: a receipt's deliver_sm_resp goes out only once the handler here has
 * recorded it, and a submission the thread could not answer fails with a retryable CarrierError.
 *
 * Messages cross in batches, one postMessage per turn of either event loop each way.
 */

/** Main → thread. */
export type ToThread =
  | { t: 'start' }
  | { t: 'stop' }
  | { t: 'submit'; jobs: Array<[number, OutboundSubmission]> }
  | { t: 'acks'; acks: Array<[number, string | null]> };

/** Thread → main. */
export type FromThread =
  | { t: 'started' }
  | { t: 'startFailed'; error: SerializedError }
  | { t: 'stopped' }
  | { t: 'results'; results: Array<[number, string[] | null, SerializedError | null]> }
  | { t: 'receipts'; receipts: Array<[number, DeliveryReceipt]> }
  | { t: 'state'; connected: boolean }
  | { t: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; obj: Record<string, unknown>; msg: string };

export interface SerializedError {
  message: string;
  carrier?: { retryable: boolean; codeId?: number; commandStatus?: number };
}

export function serializeError(err: unknown): SerializedError {
  const e = err as Error;
  const message = String(e?.message ?? err);
  return err instanceof CarrierError ? { message, carrier: { retryable: err.retryable, codeId: err.codeId, commandStatus: err.commandStatus } } : { message };
}

function deserializeError(e: SerializedError): Error {
  return e.carrier ? new CarrierError(e.message, e.carrier.retryable, e.carrier.codeId, e.carrier.commandStatus) : new Error(e.message);
}

/** What the thread builds: an SmppCarrier with these options (its logger is this side's). */
export interface ThreadedCarrierSpec {
  type: 'smpp';
  options: Omit<SmppCarrierOptions, 'logger'> & { name: string };
}

export class ThreadedCarrier implements Carrier {
  readonly name: string;
  private worker?: Worker;
  private handler?: ReceiptHandler;
  private isConnected = false;
  private seq = 0;
  private readonly waiting = new Map<number, { resolve(r: SubmitResult): void; reject(e: Error): void }>();
  private readonly outgoing = new PerTurn<[number, OutboundSubmission]>((jobs) => this.worker?.postMessage({ t: 'submit', jobs } satisfies ToThread));
  private readonly acks = new PerTurn<[number, string | null]>((acks) => this.worker?.postMessage({ t: 'acks', acks } satisfies ToThread));
  private starting?: { resolve(): void; reject(e: Error): void };
  private stopping?: () => void;
  private stopped = false;

  constructor(
    private readonly spec: ThreadedCarrierSpec,
    private readonly logger?: ConnectorLogger,
  ) {
    this.name = spec.options.name;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  onReceipt(handler: ReceiptHandler): void {
    this.handler = handler;
  }

  /** As SmppCarrier.start: resolves once bound, rejects when the SMSC refuses the credentials. */
  start(): Promise<void> {
    if (this.worker || this.stopped) return Promise.reject(new Error(`${this.name}: start() called twice`));
    return new Promise<void>((resolve, reject) => {
      this.starting = { resolve, reject };
      this.spawn().postMessage({ t: 'start' } satisfies ToThread);
    });
  }

  submit(msg: OutboundSubmission): Promise<SubmitResult> {
    const worker = this.worker;
    if (!worker || this.stopped) return Promise.reject(new CarrierError(`${this.name}: connector not started`, true, CARRIER_CODE_INTERNAL));
    return new Promise<SubmitResult>((resolve, reject) => {
      const n = ++this.seq;
      this.waiting.set(n, { resolve, reject });
      this.outgoing.push([n, msg]);
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const worker = this.worker;
    if (!worker) return;
    this.outgoing.flush();
    this.acks.flush();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 10_000);
      this.stopping = () => {
        clearTimeout(timer);
        resolve();
      };
      worker.postMessage({ t: 'stop' } satisfies ToThread);
    });
    this.worker = undefined;
    await worker.terminate();
    this.failWaiting('connector stopped');
  }

  private ack(n: number, error: string | null): void {
    this.acks.push([n, error]);
  }

  private failWaiting(why: string): void {
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of waiting) w.reject(new CarrierError(`${this.name}: ${why} before the SMSC answered`, true, CARRIER_CODE_INTERNAL));
  }

  private spawn(): Worker {
    const ext = path.extname(__filename);
    const file = path.join(__dirname, `carrier-thread-worker${ext}`);
    // From sources (tests run TypeScript through tsx) the thread registers tsx before loading its module.
    // A PDU lives for a few milliseconds: a young generation of 8 MB, as the callback thread's, keeps its heap small.
    const resourceLimits = { maxYoungGenerationSizeMb: 8 };
    const worker =
      ext === '.ts'
        ? new Worker(`require('tsx/cjs'); require(${JSON.stringify(file)});`, { eval: true, workerData: this.spec, resourceLimits })
        : new Worker(file, { workerData: this.spec, resourceLimits });
    worker.on('message', (m: FromThread) => this.onMessage(m));
    worker.on('error', (err) => this.logger?.error({ err, connector: this.name }, 'SMPP connector thread failed'));
    worker.on('exit', (code) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.isConnected = false;
      this.failWaiting(`connector thread exited (${code})`);
      // Receipts it held were never acknowledged: the SMSC sends them again once we are bound again.
      if (this.stopped) return;
      this.starting?.reject(new Error(`${this.name}: connector thread exited (${code})`));
      this.starting = undefined;
      this.logger?.error({ connector: this.name, code }, 'SMPP connector thread exited; starting a new one in 1 s');
      setTimeout(() => {
        if (this.stopped || this.worker) return;
        this.spawn().postMessage({ t: 'start' } satisfies ToThread);
      }, 1000).unref();
    });
    this.worker = worker;
    return worker;
  }

  private onMessage(m: FromThread): void {
    switch (m.t) {
      case 'results':
        for (const [n, ids, error] of m.results) {
          const w = this.waiting.get(n);
          this.waiting.delete(n);
          if (!w) continue;
          if (ids) w.resolve({ carrierMessageIds: ids });
          else w.reject(deserializeError(error ?? { message: 'no result' }));
        }
        return;
      case 'receipts':
        for (const [n, receipt] of m.receipts) {
          const handler = this.handler;
          if (!handler) {
            this.ack(n, 'no receipt handler');
            continue;
          }
          handler(receipt).then(
            () => this.ack(n, null),
            (err) => this.ack(n, String((err as Error)?.message ?? err)),
          );
        }
        return;
      case 'state':
        this.isConnected = m.connected;
        return;
      case 'started':
        this.starting?.resolve();
        this.starting = undefined;
        return;
      case 'startFailed':
        this.starting?.reject(deserializeError(m.error));
        this.starting = undefined;
        return;
      case 'stopped':
        this.stopping?.();
        return;
      case 'log':
        this.logger?.[m.level](m.obj, m.msg);
        return;
    }
  }
}
