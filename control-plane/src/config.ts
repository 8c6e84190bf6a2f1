import fs from 'node:fs';
import path from 'node:path';
import { parseCidr } from './trunks/cidr';

/**
 * The only reader of process.env. Every problem is collected and reported at once at boot;
 * nothing falls back silently to a default when a value is present but wrong.
 */
export interface Config {
  port: number;
  host: string;
  /** `sqlite:///abs/path.sqlite3`, a bare file path, or `postgres://…`. */
  databaseUrl: string;
  dataDir: string;
  /** When set, accepted as an admin bearer token (compared by hash, never stored). */
  adminToken?: string;
  /** 32-byte AES-256-GCM key for secrets at rest; when absent it is loaded from / generated into dataDir. */
  secretsKey?: Buffer;
  logLevel: string;
  /** Base URL that links (share links, `meta.host`) are built from. */
  publicUrl?: string;
  shareLinkTtlSeconds: number;
  /** Proxies whose X-Forwarded-For is honoured on the send path. */
  trustedProxies: string[];
  /** CIDRs exempt from the callback SSRF guard. */
  callbackAllowCidrs: string[];
  /** JSON file with connectors and destination-prefix routes; absent = the embedded simulator. */
  carriersFile?: string;
  simulatorReceiptDelayMs: number;
  /** Callbacks are retried for this long from their first attempt, then dead-lettered. */
  callbackMaxAgeSeconds: number;
  callbackTimeoutMs: number;
  callbackConcurrencyPerEndpoint: number;
  /** Retryable carrier failures are retried this long before the message fails (code_id 101). */
  submitRetryWindowSeconds: number;
  idempotencyWindowSeconds: number;
  /** Run the dispatcher and callback workers in this process (false: API only). */
  workers: boolean;
  /** POST callbacks from a worker thread (false: from the main thread). */
  callbackThread: boolean;
  /** SQLite: the connection and the group-commit rounds on a thread of their own (false: on the main thread). */
  storeThread: boolean;
  instanceId: string;
  /** How long a claim on a message or callback lasts without renewal; a crashed instance's work is retried after it. */
  leaseSeconds: number;
  auth: { maxFailuresPerIp: number; maxFailuresPerUsername: number; windowSeconds: number; blockSeconds: number };
  /** When set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`. */
  metricsToken?: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const problems: string[] = [];

  const int = (name: string, def: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return def;
    if (!/^\d+$/.test(raw)) {
      problems.push(`${name} must be a whole number between ${min} and ${max}, got ${JSON.stringify(raw)}`);
      return def;
    }
    const n = Number(raw);
    if (n < min || n > max) problems.push(`${name} must be between ${min} and ${max}, got ${n}`);
    return n;
  };

  const port = int('PORT', 8080, 0, 65535);
  const host = env.HOST && env.HOST !== '' ? env.HOST : '127.0.0.1';
  const dataDir = path.resolve(cwd, env.DATA_DIR && env.DATA_DIR !== '' ? env.DATA_DIR : 'data');

  let databaseUrl = env.DATABASE_URL ?? '';
  if (databaseUrl === '') {
    databaseUrl = `sqlite://${path.join(dataDir, 'trunks.sqlite3')}`;
  } else if (!/^(sqlite:\/\/|postgres(ql)?:\/\/)/.test(databaseUrl)) {
    problems.push('DATABASE_URL must start with sqlite:// or postgres:// (for example sqlite://./data/trunks.sqlite3)');
  }

  let adminToken: string | undefined;
  if (env.ADMIN_TOKEN !== undefined && env.ADMIN_TOKEN !== '') {
    if (env.ADMIN_TOKEN.length < 16) problems.push('ADMIN_TOKEN must be at least 16 characters long');
    else adminToken = env.ADMIN_TOKEN;
  }

  let secretsKey: Buffer | undefined;
  if (env.SECRETS_KEY !== undefined && env.SECRETS_KEY !== '') {
    secretsKey = parseKey(env.SECRETS_KEY);
    if (!secretsKey) problems.push('SECRETS_KEY must be 32 bytes as 64 hex characters or base64 (generate one with `openssl rand -hex 32`)');
  }

  const logLevel = env.LOG_LEVEL && env.LOG_LEVEL !== '' ? env.LOG_LEVEL : 'info';
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);

  let publicUrl: string | undefined;
  if (env.PUBLIC_URL) {
    try {
      const u = new URL(env.PUBLIC_URL);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
      publicUrl = env.PUBLIC_URL.replace(/\/+$/, '');
    } catch {
      problems.push(`PUBLIC_URL must be an absolute http(s) URL, got ${JSON.stringify(env.PUBLIC_URL)}`);
    }
  }

  const shareLinkTtlSeconds = int('SHARE_LINK_TTL_SECONDS', 86400, 60, 7 * 86400);
  const trustedProxies = list(env.TRUSTED_PROXIES);
  const callbackAllowCidrs = list(env.CALLBACK_ALLOW_CIDRS);
  for (const [name, entries] of [['TRUSTED_PROXIES', trustedProxies], ['CALLBACK_ALLOW_CIDRS', callbackAllowCidrs]] as const) {
    for (const e of entries) {
      const r = parseCidr(e);
      if (!r.ok) problems.push(`${name} entry ${JSON.stringify(e)} ${r.reason}`);
    }
  }

  const carriersFile = env.CARRIERS_FILE && env.CARRIERS_FILE !== '' ? path.resolve(cwd, env.CARRIERS_FILE) : undefined;
  if (carriersFile && !fs.existsSync(carriersFile)) problems.push(`CARRIERS_FILE ${carriersFile} does not exist`);
  const simulatorReceiptDelayMs = int('SIMULATOR_RECEIPT_DELAY_MS', 200, 0, 3_600_000);
  const callbackMaxAgeSeconds = int('CALLBACK_MAX_AGE_SECONDS', 72 * 3600, 1, 30 * 86400);
  const callbackTimeoutMs = int('CALLBACK_TIMEOUT_MS', 10_000, 100, 120_000);
  const callbackConcurrencyPerEndpoint = int('CALLBACK_CONCURRENCY_PER_ENDPOINT', 16, 1, 1000);
  const submitRetryWindowSeconds = int('SUBMIT_RETRY_WINDOW_SECONDS', 3600, 1, 7 * 86400);
  const idempotencyWindowSeconds = int('IDEMPOTENCY_WINDOW_SECONDS', 72 * 3600, 60, 30 * 86400);
  const leaseSeconds = int('LEASE_SECONDS', 30, 2, 3600);
  const auth = {
    maxFailuresPerIp: int('AUTH_MAX_FAILURES_PER_IP', 20, 1, 1_000_000),
    maxFailuresPerUsername: int('AUTH_MAX_FAILURES_PER_USERNAME', 50, 1, 1_000_000),
    windowSeconds: int('AUTH_FAILURE_WINDOW_SECONDS', 300, 1, 86400),
    blockSeconds: int('AUTH_BLOCK_SECONDS', 300, 1, 86400),
  };
  const metricsToken = env.METRICS_TOKEN && env.METRICS_TOKEN !== '' ? env.METRICS_TOKEN : undefined;
  const workersRaw = env.WORKERS ?? 'true';
  if (!['true', 'false'].includes(workersRaw)) problems.push(`WORKERS must be true or false, got ${JSON.stringify(workersRaw)}`);
  const callbackThreadRaw = env.CALLBACK_THREAD ?? 'true';
  if (!['true', 'false'].includes(callbackThreadRaw)) problems.push(`CALLBACK_THREAD must be true or false, got ${JSON.stringify(callbackThreadRaw)}`);
  const storeThreadRaw = env.STORE_THREAD ?? 'true';
  if (!['true', 'false'].includes(storeThreadRaw)) problems.push(`STORE_THREAD must be true or false, got ${JSON.stringify(storeThreadRaw)}`);
  const instanceId = env.INSTANCE_ID && env.INSTANCE_ID !== '' ? env.INSTANCE_ID : `${require('node:os').hostname()}-${process.pid}-${require('node:crypto').randomBytes(3).toString('hex')}`;

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    port,
    host,
    databaseUrl,
    dataDir,
    adminToken,
    secretsKey,
    logLevel,
    publicUrl,
    shareLinkTtlSeconds,
    trustedProxies,
    callbackAllowCidrs,
    carriersFile,
    simulatorReceiptDelayMs,
    callbackMaxAgeSeconds,
    callbackTimeoutMs,
    callbackConcurrencyPerEndpoint,
    submitRetryWindowSeconds,
    idempotencyWindowSeconds,
    workers: workersRaw === 'true',
    callbackThread: callbackThreadRaw === 'true',
    storeThread: storeThreadRaw === 'true',
    instanceId,
    leaseSeconds,
    auth,
    metricsToken,
  };
}

function parseKey(raw: string): Buffer | undefined {
  const s = raw.trim();
  if (/^[0-9a-fA-F]{64}$/.test(s)) return Buffer.from(s, 'hex');
  const b = Buffer.from(s, 'base64');
  return b.length === 32 ? b : undefined;
}

/** Loads the secrets key from the data folder, creating it (mode 0600) on first start. */
export function loadOrCreateKeyFile(dataDir: string): { key: Buffer; created: boolean } {
  const file = path.join(dataDir, 'secrets.key');
  fs.mkdirSync(dataDir, { recursive: true });
  try {
    const key = parseKey(fs.readFileSync(file, 'utf8'));
    if (!key) throw new ConfigError([`${file} does not hold a 32-byte key (64 hex characters)`]);
    return { key, created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = require('node:crypto').randomBytes(32) as Buffer;
  fs.writeFileSync(file, key.toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  return { key, created: true };
}
