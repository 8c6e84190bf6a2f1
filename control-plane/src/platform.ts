import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { AuditLog } from './audit/audit-log';
import { AdminTokens } from './auth/admin-tokens';
import { CallbackWorker } from './callbacks/callback-worker';
import { CallbackOutbox, CallbackRow } from './callbacks/outbox';
import { DEFAULT_RETRY_POLICY, RetryPolicy } from './callbacks/retry-policy';
import { SsrfGuard } from './callbacks/ssrf-guard';
import { Config, loadOrCreateKeyFile } from './config';
import type { Carrier } from './connectors/carrier';
import { CarrierRouter } from './connectors/carrier-router';
import { buildCarriers, loadCarriersFile } from './connectors/carriers-config';
import { CredentialService } from './credentials/credential-service';
import { openDatabase, Database } from './db/database';
import { Batcher, CommitGroup, TransactionBatcher } from './db/transaction-batcher';
import { StoreThread } from './db/store-thread';
import type { AttemptResult, Recorded } from './callbacks/attempts';
import { DidSetService } from './did-sets/did-set-service';
import { DidService } from './dids/did-service';
import { createApp } from './http/app';
import { ClientIpResolver } from './sending/client-ip';
import { Dispatcher } from './sending/dispatcher';
import { MessageQueries } from './sending/message-queries';
import { AcceptItem, MessageStore, Outcome, ReceiptItem } from './sending/message-store';
import { RateLimiter } from './sending/rate-limiter';
import { ChangeFeed } from './shared/changes';
import { createLogger } from './shared/logger';
import { SecretBox } from './shared/secrets';
import { TrunkAccess } from './trunks/trunk-access';
import { TrunkService } from './trunks/trunk-service';
import { BruteForceGuard } from './auth/brute-force-guard';
import { Metrics } from './shared/metrics';

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
    messages: MessageQueries;
  };
  carriers: CarrierRouter;
  /** Set when this start generated the first admin token (shown once). */
  bootstrapToken?: string;
  stop(): Promise<void>;
}

export interface PlatformOptions {
  logger?: Logger;
  /** Carriers built by the caller (tests, benchmarks); otherwise from CARRIERS_FILE or the simulator. */
  carriers?: { connectors: Carrier[]; routes?: { prefix: string; connector: string }[]; default?: string | null };
  retryPolicy?: Partial<RetryPolicy>;
}

/** Composition root: config → database → stores/services → workers → HTTP app. `main.ts` adds signals and printing. */
export async function startPlatform(config: Config, opts: PlatformOptions = {}): Promise<Platform> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const key = config.secretsKey ?? loadOrCreateKeyFile(config.dataDir).key;
  const retryPolicy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, maxAgeMs: config.callbackMaxAgeSeconds * 1000, ...opts.retryPolicy };
  const callbackLeaseMs = Math.max(config.leaseSeconds * 1000, config.callbackTimeoutMs * 3);
  // Bound below, once built: the store thread leases new rows up to what they can take.
  let dispatcher: Dispatcher | undefined;
  let callbackWorker: CallbackWorker | undefined;
  // SQLite: the connection and the group-commit rounds on a thread of their own (STORE_THREAD, see StoreThread).
  const storeThread =
    config.storeThread && !/^postgres(ql)?:\/\//.test(config.databaseUrl)
      ? await StoreThread.start(
          {
            url: config.databaseUrl,
            instanceId: config.instanceId,
            messageLeaseMs: config.leaseSeconds * 1000,
            callbackLeaseMs,
            callbackMaxAgeMs: retryPolicy.maxAgeMs,
            retryPolicy,
            workers: config.workers,
          },
          () => ({ messages: dispatcher?.room() ?? 0, callbacks: callbackWorker?.room() ?? 0 }),
        )
      : undefined;
  const db: Database = storeThread ? { knex: storeThread.knex, dialect: 'sqlite', close: () => storeThread.close() } : await openDatabase(config.databaseUrl);
  const changes = new ChangeFeed();
  if (storeThread) changes.subscribe((kind, id) => storeThread.changed(kind, id));
  const audit = new AuditLog(db.knex);
  const adminTokens = new AdminTokens(db.knex, audit, config.adminToken);
  let publicUrl = config.publicUrl ?? '';
  const credentials = new CredentialService(db.knex, new SecretBox(key), audit, changes, {
    shareTtlSeconds: config.shareLinkTtlSeconds,
    publicUrl: () => publicUrl,
  });
  const guard = new SsrfGuard(config.callbackAllowCidrs);
  const bruteForce = new BruteForceGuard(config.auth);
  const metrics = new Metrics(async () => {
    const count = async (table: string, where: Record<string, string>) => Number((await db.knex(table).where(where).count({ n: '*' }))[0]!.n);
    return {
      messages_accepted: await count('messages', { status: 'accepted' }),
      messages_awaiting_receipt: await count('messages', { status: 'submitted' }),
      callbacks_pending: await count('callbacks', { state: 'pending' }),
      callbacks_dead: await count('callbacks', { state: 'dead' }),
    };
  });
  const access = new TrunkAccess(db.knex, changes);
  const messages = new MessageQueries(db.knex);
  const services = {
    audit,
    adminTokens,
    dids: new DidService(db.knex, audit, changes),
    didSets: new DidSetService(db.knex, audit, changes),
    trunks: new TrunkService(db.knex, audit, changes, credentials, (url) => guard.refuseUrl(url)),
    credentials,
    access,
    messages,
  };

  const carriers = opts.carriers
    ? new CarrierRouter(new Map(opts.carriers.connectors.map((c) => [c.name, c])), opts.carriers.routes ?? [], opts.carriers.default ?? opts.carriers.connectors[0]?.name ?? null)
    : buildCarriers(
        config.carriersFile
          ? loadCarriersFile(config.carriersFile)
          : { connectors: [{ name: 'simulator', type: 'simulator', receiptDelayMs: config.simulatorReceiptDelayMs }], default: 'simulator' },
        process.env,
        logger,
      );

  const outbox = new CallbackOutbox(() => retryPolicy.maxAgeMs);
  const store = new MessageStore(outbox, access);
  // SQLite runs one transaction at a time on its one connection: the group commits share theirs,
  // one fsync per round. PostgreSQL runs them side by side on its pool instead.
  const commits = db.dialect === 'sqlite' && !storeThread ? new CommitGroup(db.knex) : undefined;
  callbackWorker = new CallbackWorker(db.knex, (trunkId) => credentials.callbackSecrets(trunkId), logger, {
    recorder: storeThread?.batcher<AttemptResult, Recorded>('attempts'),
    allowCidrs: config.callbackAllowCidrs,
    thread: config.callbackThread,
    commitGroup: commits,
    metrics,
    instanceId: config.instanceId,
    policy: retryPolicy,
    batchSize: 500,
    maxInFlight: 1024,
    perEndpoint: config.callbackConcurrencyPerEndpoint,
    timeoutMs: config.callbackTimeoutMs,
    leaseMs: callbackLeaseMs,
    pollMs: 250,
  });
  const callbacks = callbackWorker;
  if (config.workers && !storeThread) outbox.handOffTo((count) => callbacks.leaseFor(count));
  const wakeCallbacks = (results: CallbackRow[][]) => {
    for (const rows of results) if (rows.length > 0) callbacks.offer(rows);
  };
  const outcomes: Batcher<Outcome, CallbackRow[]> = storeThread
    ? storeThread.batcher<Outcome, CallbackRow[]>('outcomes', (_item, rows) => wakeCallbacks([rows]))
    : new TransactionBatcher<Outcome, CallbackRow[]>(db.knex, (trx, items) => store.recordOutcomes(trx, items), 500, (_i, r) => wakeCallbacks(r), commits);
  // Receipts write alongside the outcomes; one that names a part not written yet waits for them (see applyReceipts).
  const receipts: Batcher<ReceiptItem, CallbackRow[]> = storeThread
    ? storeThread.batcher<ReceiptItem, CallbackRow[]>('receipts', (_item, rows) => wakeCallbacks([rows]))
    : new TransactionBatcher<ReceiptItem, CallbackRow[]>(db.knex, (trx, items, outcomesDone) => store.applyReceipts(trx, items, false, outcomesDone), 500, (_i, r) => wakeCallbacks(r), commits, true);
  dispatcher = new Dispatcher(db.knex, store, outcomes, carriers, access, logger, {
    metrics,
    instanceId: config.instanceId,
    batchSize: 500,
    maxInFlight: 2000,
    leaseMs: config.leaseSeconds * 1000,
    pollMs: 250,
    retryWindowMs: config.submitRetryWindowSeconds * 1000,
  });
  const dispatch = dispatcher;
  if (config.workers && !storeThread) store.handOffTo((count) => dispatch.leaseFor(count));
  const accept: Batcher<AcceptItem, unknown> = storeThread
    ? // The thread leased the item's messages or not: its answer says which (the item here is not the one it wrote).
      storeThread.batcher<AcceptItem, string | null>('accept', (item, leasedBy) => dispatch.offer(item.messages, leasedBy ?? undefined))
    : new TransactionBatcher<AcceptItem>(
        db.knex,
        (trx, items) => store.accept(trx, items),
        1000,
        (items) => {
          for (const item of items) dispatch.offer(item.messages, item.leasedBy);
        },
        commits,
        // New messages only: nothing else in a round writes or reads them before they are committed.
        true,
      );

  for (const carrier of carriers.carriers.values()) {
    carrier.onReceipt(async (receipt) => {
      await receipts.submit({ connector: carrier.name, receipt });
      metrics.receipts.inc({ connector: carrier.name, status: receipt.status });
    });
  }

  let bootstrapToken: string | undefined;
  if (!config.adminToken && (await adminTokens.count()) === 0) {
    bootstrapToken = (await adminTokens.create('bootstrap', { id: 'system', name: 'first start' })).token;
  }

  let draining = false;
  const app = createApp({
    logger,
    db,
    publicUrl: config.publicUrl,
    ...services,
    send: {
      knex: db.knex,
      credentials,
      access,
      clientIp: new ClientIpResolver(config.trustedProxies),
      rateLimiter: new RateLimiter(),
      guard: bruteForce,
      metrics,
      accept,
      queries: messages,
      idempotencyWindowMs: config.idempotencyWindowSeconds * 1000,
    },
    metricsToken: config.metricsToken,
    callbackMaxAgeMs: () => retryPolicy.maxAgeMs,
    onCallbackReplay: () => callbacks.wake(),
    isDraining: () => draining,
    trustedProxies: config.trustedProxies,
  });

  if (config.workers) {
    // Carriers connect in the background: an unreachable SMSC must not stop the API from serving.
    for (const carrier of carriers.carriers.values()) {
      carrier.start().then(
        async () => {
          if (!carrier.resume) return;
          const owed = await db
            .knex('message_parts')
            .join('messages', 'messages.id', 'message_parts.message_id')
            .where('message_parts.connector', carrier.name)
            .whereNull('message_parts.status')
            .where('messages.status', 'submitted')
            .select('message_parts.carrier_message_id as carrierMessageId', 'messages.destination', 'messages.content');
          if (owed.length) logger.info({ connector: carrier.name, parts: owed.length }, 'resuming receipts owed before restart');
          carrier.resume(owed);
        },
        (err) => logger.error({ err, connector: carrier.name }, 'carrier failed to start'),
      );
    }
    dispatch.start();
    callbacks.start();
  }

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
    carriers,
    bootstrapToken,
    async stop() {
      draining = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // In-flight requests get a bounded time to finish before their sockets are closed.
        setTimeout(() => server.closeAllConnections(), 5000).unref();
      });
      await dispatch.stop();
      for (const carrier of carriers.carriers.values()) await carrier.stop().catch(() => undefined);
      await receipts.idle();
      await accept.idle();
      await callbacks.stop();
      await db.close();
    },
  };
}
