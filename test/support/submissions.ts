import type { OutboundSubmission } from '../../control-plane/src/connectors/carrier';

/** A submission as the dispatcher hands it to a connector, with a fresh message id. */
export const submission = (content: string, destination = '+4915112345671'): OutboundSubmission => ({
  messageId: `m-${Math.random().toString(36).slice(2)}`,
  source: '+4930123456',
  destination,
  content,
});
