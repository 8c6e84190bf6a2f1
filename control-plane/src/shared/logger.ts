import pino, { Logger } from 'pino';

/** Paths redacted from every log line: credentials, tokens and cookies never reach the log. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["idempotency-key"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.token',
  '*.adminToken',
  '*.secretsKey',
  'password',
  'token',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[REDACTED]' }, base: { service: 'sms-out-control-plane' } }, destination);
}

/** One-time share tokens travel in the path; they are cut out of logged URLs. */
export const redactUrl = (url: string): string => url.replace(/\/share\/[^/?#]+/g, '/share/[REDACTED]');
