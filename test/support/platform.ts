import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Config, loadConfig } from '../../control-plane/src/config';
import { Platform, PlatformOptions, startPlatform } from '../../control-plane/src/platform';
import { REDACT_PATHS } from '../../control-plane/src/shared/logger';

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface TestPlatform {
  platform: Platform;
  url: string;
  token: string;
  dataDir: string;
  /** Every log line the platform wrote, for "secrets never logged" checks. */
  logs: string[];
  api(method: string, urlPath: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse>;
  stop(): Promise<void>;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

/**
 * Starts the real control plane on 127.0.0.1 port 0 with a fresh SQLite file in a temporary folder
 * (or the database in TEST_DATABASE_URL, when the suite runs on PostgreSQL).
 */
export async function startTestPlatform(env: Record<string, string> = {}, options: Omit<PlatformOptions, 'logger'> = {}): Promise<TestPlatform> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sms-out-test-'));
  const pg = process.env.TEST_DATABASE_URL && !env.DATABASE_URL ? await createPgDatabase(process.env.TEST_DATABASE_URL) : undefined;
  const config: Config = loadConfig(
    {
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      LOG_LEVEL: 'info',
      ...(pg ? { DATABASE_URL: pg.url } : {}),
      ...env,
    },
    dataDir,
  );
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const logger = pino({ level: config.logLevel, redact: { paths: REDACT_PATHS, censor: '[REDACTED]' } }, sink);
  const platform = await startPlatform(config, { logger, ...options });
  // A dual-stack listener reports [::]; clients reach it on ::1.
  const url = platform.url.replace('://[::]:', '://[::1]:');
  const token = env.ADMIN_TOKEN ?? TEST_ADMIN_TOKEN;
  return {
    platform,
    url,
    token,
    dataDir,
    logs,
    async api(method, urlPath, body, headers = {}) {
      const res = await fetch(url + urlPath, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/vnd.api+json' } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: any;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: res.status, headers: res.headers, body: parsed, text };
    },
    async stop() {
      await platform.stop();
      await pg?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** JSON:API document helpers for tests. */
export const doc = (type: string, attributes: Record<string, unknown>, relationships?: Record<string, unknown>, id?: string) => ({
  data: { type, ...(id ? { id } : {}), attributes, ...(relationships ? { relationships } : {}) },
});

export const rel = (type: string, ids: string[]) => ({ data: ids.map((id) => ({ type, id })) });

/**
 * With TEST_DATABASE_URL (a PostgreSQL server URL), every test platform gets a database of its own,
 * created here and dropped at stop, so the same tests run on SQLite and on PostgreSQL.
 */
export async function createPgDatabase(serverUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const { Client } = await import('pg');
  const name = `t_${crypto.randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new Client({ connectionString: serverUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
