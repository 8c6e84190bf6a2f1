import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { AuditLog } from './audit/audit-log';
import { AdminTokens } from './auth/admin-tokens';
import { Config, loadOrCreateKeyFile } from './config';
import { CredentialService } from './credentials/credential-service';
import { openDatabase, Database } from './db/database';
import { DidSetService } from './did-sets/did-set-service';
import { DidService } from './dids/did-service';
import { createApp } from './http/app';
import { ChangeFeed } from './shared/changes';
import { createLogger } from './shared/logger';
import { SecretBox } from './shared/secrets';
import { TrunkAccess } from './trunks/trunk-access';
import { TrunkService } from './trunks/trunk-service';

export interface Platform {
  url: string;
  db: Database;
  logger: Logger;
  services: {
    audit: AuditLog;
    adminTokens: AdminTokens;
    dids: DidService;
    didSets: DidSetService;
    trunks: TrunkService;
    credentials: CredentialService;
    access: TrunkAccess;
  };
  /** Set when this start generated the first admin token (shown once). */
  bootstrapToken?: string;
  stop(): Promise<void>;
}

/** Composition root: config → database → stores/services → HTTP app. `main.ts` adds signals and printing. */
export async function startPlatform(config: Config, opts: { logger?: Logger } = {}): Promise<Platform> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const key = config.secretsKey ?? loadOrCreateKeyFile(config.dataDir).key;
  const db = await openDatabase(config.databaseUrl);
  const changes = new ChangeFeed();
  const audit = new AuditLog(db.knex);
  const adminTokens = new AdminTokens(db.knex, audit, config.adminToken);
  let publicUrl = config.publicUrl ?? '';
  const credentials = new CredentialService(db.knex, new SecretBox(key), audit, changes, {
    shareTtlSeconds: config.shareLinkTtlSeconds,
    publicUrl: () => publicUrl,
  });
  const services = {
    audit,
    adminTokens,
    dids: new DidService(db.knex, audit, changes),
    didSets: new DidSetService(db.knex, audit, changes),
    trunks: new TrunkService(db.knex, audit, changes, credentials),
    credentials,
    access: new TrunkAccess(db.knex, changes),
  };

  let bootstrapToken: string | undefined;
  if (!config.adminToken && (await adminTokens.count()) === 0) {
    bootstrapToken = (await adminTokens.create('bootstrap', { id: 'system', name: 'first start' })).token;
  }

  let draining = false;
  const app = createApp({ logger, db, publicUrl: config.publicUrl, ...services, isDraining: () => draining });
  const server = http.createServer(app);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  if (!config.publicUrl) publicUrl = url;

  return {
    url,
    db,
    logger,
    services,
    bootstrapToken,
    async stop() {
      draining = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // In-flight requests get a bounded time to finish before their sockets are closed.
        setTimeout(() => server.closeAllConnections(), 5000).unref();
      });
      await db.close();
    },
  };
}
