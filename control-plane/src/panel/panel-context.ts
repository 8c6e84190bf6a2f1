import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log';
import type { AdminTokens } from '../auth/admin-tokens';
import type { BruteForceGuard } from '../auth/brute-force-guard';
import type { CredentialService } from '../credentials/credential-service';
import type { Database } from '../db/database';
import type { DidSetService } from '../did-sets/did-set-service';
import type { DidService } from '../dids/did-service';
import type { ClientIpResolver } from '../sending/client-ip';
import type { MessageQueries } from '../sending/message-queries';
import type { TrunkService } from '../trunks/trunk-service';
import type { PageContext } from './layout';
import type { PanelSession } from './panel-sessions';

/**
 * The operator panel: server-rendered pages under /panel, a small script and stylesheet, no CDN.
 *
 * Its handlers call the same service objects as the JSON:API routes (TrunkService, DidService,
 * CredentialService, MessageQueries …) with the signed-in admin as the audit actor, rather than
 * having the browser call /v1 itself. Why: the browser never holds an admin token (only an
 * HttpOnly session cookie), every write runs through the one validator and transaction the API
 * uses (so there is no second source of truth and an error is the API's own DomainError, shown
 * inline by its JSON pointer), the pages work without JavaScript, and the CSP can forbid inline
 * script. The one exception is the "Send SMS" test form, which goes through the real send API over
 * loopback HTTP with the trunk's credentials, so a test message is processed like any other.
 */
export interface PanelDeps {
  logger: Logger;
  db: Database;
  adminTokens: AdminTokens;
  audit: AuditLog;
  dids: DidService;
  didSets: DidSetService;
  trunks: TrunkService;
  credentials: CredentialService;
  send: { queries: MessageQueries; guard: BruteForceGuard; clientIp: ClientIpResolver };
  callbackMaxAgeMs: () => number;
  onCallbackReplay: () => void;
  /** Base URL of links shown to operators (the send endpoint); the request's host when absent. */
  publicUrl?: string;
  /** Proxies whose X-Forwarded-Proto is believed, so the session cookie is Secure behind TLS. */
  trustedProxies: string[];
}

export interface PanelLocals {
  session: PanelSession;
  ctx: PageContext;
}

export const localsOf = (res: Response): PanelLocals => res.locals as unknown as PanelLocals;

/** Fragment requests come from panel.js (dialogs, live status); they get the page body only. */
export const wantsFragment = (req: Request): boolean => req.get('x-panel-fragment') === '1';

export function sendHtml(res: Response, status: number, body: string): void {
  res.status(status).type('html').send(body);
}

