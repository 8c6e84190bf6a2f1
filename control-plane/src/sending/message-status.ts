import type { ReceiptStatus } from '../connectors/carrier';

/** DIDWW processing `code_id`s we produce, and the status callback word each maps to. */
export const CODE = {
  NO_ROUTES: 1,
  INTERNAL: 4,
  TRUNK_BLOCKED: 5,
  SOURCE_NOT_ALLOWED: 8,
  TTL_EXCEEDED: 101,
  ROUTING_FAILED: 105,
} as const;

/** DIDWW does not publish the split; routing problems (1–3, 105) say "Routing error", the rest "Failed". */
export function processingStatusFor(codeId: number): 'Routing error' | 'Failed' {
  return codeId <= 3 || codeId === 105 ? 'Routing error' : 'Failed';
}

/** Internal lifecycle: accepted → submitted → one final delivery state; or failed at processing. */
export type MessageStatus = 'accepted' | 'submitted' | 'failed' | 'delivered' | 'undeliverable' | 'expired' | 'rejected' | 'deleted' | 'unknown';

export const FINAL_STATUSES: readonly MessageStatus[] = ['failed', 'delivered', 'undeliverable', 'expired', 'rejected', 'deleted', 'unknown'];

/** A multipart message is DELIVERED only when every part is; otherwise the most telling failure wins. */
const FAILURE_ORDER: ReceiptStatus[] = ['REJECTED', 'UNDELIVERABLE', 'EXPIRED', 'DELETED', 'UNKNOWN'];

export function rollUp(partStatuses: ReceiptStatus[]): ReceiptStatus {
  if (partStatuses.every((s) => s === 'DELIVERED')) return 'DELIVERED';
  for (const s of FAILURE_ORDER) if (partStatuses.includes(s)) return s;
  return 'UNKNOWN';
}

export const messageStatusOf = (final: ReceiptStatus): MessageStatus => final.toLowerCase() as MessageStatus;
