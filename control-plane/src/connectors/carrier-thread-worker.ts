import { parentPort, workerData } from 'node:worker_threads';
import type { ConnectorLogger, DeliveryReceipt } from './carrier';
import { FromThread, serializeError, ThreadedCarrierSpec, ToThread } from './carrier-thread';
import { SmppCarrier } from './smpp-connector';
import { PerTurn } from '../shared/per-turn';

/**
 * The connector thread (see ThreadedCarrier): runs the SmppCarrier, answers submissions in
 * batches, and hands receipts over, holding each deliver_sm_resp until the main thread says the
 * receipt is recorded (or failed, which the connector answers with a temporary error so the SMSC
 * sends it again).
 */
const spec = workerData as ThreadedCarrierSpec;
const port = parentPort!;
const send = (m: FromThread) => port.postMessage(m);

/** Log fields as plain data: an Error keeps its message, code and stack; anything else not cloneable becomes text. */
function plain(obj: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!obj || typeof obj !== 'object') return out;
  for (const [k, v] of Object.entries(obj)) {
    if (v instanceof Error) out[k] = { type: v.name, message: v.message, stack: v.stack, code: (v as { code?: unknown }).code };
    else if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) out[k] = v;
    else {
      try {
        out[k] = JSON.parse(JSON.stringify(v));
      } catch {
        out[k] = String(v);
      }
    }
  }
  return out;
}
const log = (level: 'debug' | 'info' | 'warn' | 'error') => (obj: unknown, msg?: string) => send({ t: 'log', level, obj: plain(obj), msg: msg ?? '' });
const logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') } as unknown as ConnectorLogger;

const carrier = new SmppCarrier({ ...spec.options, logger });

const results = new PerTurn<[number, string[] | null, ReturnType<typeof serializeError> | null]>((batch) => send({ t: 'results', results: batch }));
const result = (entry: [number, string[] | null, ReturnType<typeof serializeError> | null]) => results.push(entry);

const receipts = new PerTurn<[number, DeliveryReceipt]>((batch) => send({ t: 'receipts', receipts: batch }));
let receiptSeq = 0;
const held = new Map<number, { resolve(): void; reject(e: Error): void }>();
carrier.onReceipt(
  (receipt) =>
    new Promise<void>((resolve, reject) => {
      const n = ++receiptSeq;
      held.set(n, { resolve, reject });
      receipts.push([n, receipt]);
    }),
);

// The bind state, as the main thread's `connected` reports it.
let connected = false;
setInterval(() => {
  if (carrier.connected !== connected) {
    connected = carrier.connected;
    send({ t: 'state', connected });
  }
}, 100).unref();

port.on('message', (m: ToThread) => {
  switch (m.t) {
    case 'start':
      carrier.start().then(
        () => {
          connected = true;
          send({ t: 'state', connected: true });
          send({ t: 'started' });
        },
        (err) => send({ t: 'startFailed', error: serializeError(err) }),
      );
      return;
    case 'submit':
      for (const [n, msg] of m.jobs) {
        carrier.submit(msg).then(
          (r) => result([n, r.carrierMessageIds, null]),
          (err) => result([n, null, serializeError(err)]),
        );
      }
      return;
    case 'acks':
      for (const [n, error] of m.acks) {
        const h = held.get(n);
        held.delete(n);
        if (!h) continue;
        if (error === null) h.resolve();
        else h.reject(new Error(error));
      }
      return;
    case 'stop':
      // Receipts the main thread has not answered yet are nacked by the connector's stop (it waits a while for them).
      void carrier.stop().finally(() => {
        for (const h of held.values()) h.reject(new Error('connector stopped'));
        held.clear();
        send({ t: 'stopped' });
      });
      return;
  }
});
