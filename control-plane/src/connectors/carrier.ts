import type { Logger } from 'pino';

/**
 * The one interface between the sending pipeline and whatever hands messages to a carrier
 * (the embedded simulator, an SMPP bind, later others). Connectors translate their protocol's
 * failures into CarrierError here, at the boundary; nothing above this file knows SMPP.
 */

export interface OutboundSubmission {
  messageId: string;
  source: string;
  destination: string;
  content: string;
}

export interface SubmitResult {
  /** One per part, in order. */
  carrierMessageIds: string[];
}

/** DIDWW error `code_id`s the connectors produce. */
export const CARRIER_CODE_INTERNAL = 4;
export const CARRIER_CODE_ROUTING_FAILED = 105;

export class CarrierError extends Error {
  constructor(
    message: string,
    /** True when sending the same message again later may succeed (throttling, lost connection). */
    readonly retryable: boolean,
    /** DIDWW code_id, e.g. 4 internal, 105 routing failed. */
    readonly codeId?: number,
    /** The SMPP command_status that caused it, when there was one. */
    readonly commandStatus?: number,
  ) {
    super(message);
    this.name = 'CarrierError';
  }
}

export type ReceiptStatus =
  | 'DELIVERED'
  | 'UNDELIVERABLE'
  | 'EXPIRED'
  | 'REJECTED'
  | 'DELETED'
  | 'UNKNOWN'
  | 'ACCEPTED'
  | 'ENROUTE';

/** ACCEPTED and ENROUTE are intermediate: a later receipt for the same id is still expected. */
export const isFinalReceiptStatus = (status: ReceiptStatus): boolean => status !== 'ACCEPTED' && status !== 'ENROUTE';

export interface DeliveryReceipt {
  carrierMessageId: string;
  status: ReceiptStatus;
  final: boolean;
  errorCode?: string;
  submittedAt?: string;
  doneAt?: string;
  raw?: string;
}

/** What connectors log through; a pino logger fits. */
export type ConnectorLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export type ReceiptHandler = (receipt: DeliveryReceipt) => Promise<void>;

export interface Carrier {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Resolves once the carrier acknowledged every part; rejects with CarrierError. */
  submit(msg: OutboundSubmission): Promise<SubmitResult>;
  /**
   * Receipts are pushed here; the connector acknowledges the carrier (deliver_sm_resp) only after
   * the returned promise resolves, so a receipt is never acked before it is durably recorded. If
   * the handler rejects, the connector answers deliver_sm_resp with a temporary error status
   * (ESME_RX_T_APPN 0x64) so the SMSC redelivers.
   */
  onReceipt(handler: ReceiptHandler): void;
  /**
   * Receipts still owed for parts submitted before a restart. A real SMSC redelivers the
   * receipts it could not hand over; an in-memory carrier (the simulator) must be told.
   */
  resume?(owed: ReadonlyArray<{ carrierMessageId: string; destination: string; content: string }>): void;
  readonly connected?: boolean;
}
