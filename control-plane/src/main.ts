import v8 from 'node:v8';
import { ConfigError, loadConfig } from './config';
import { startPlatform } from './platform';
import { createLogger } from './shared/logger';

/**
 * After a full collection, V8 lets the old generation grow by a factor it picks from how fast the
 * collector and the program run, up to 4×, before it collects again. Under sustained load most of
 * what reaches the old generation is request and message state that died soon after, so V8 picked
 * the top factor and the heaps held mostly garbage. The flag is the process's, so it holds for the
 * main thread and for the store, SMPP and callback threads alike (four heaps since the eighth pass
 * of docs/PERFORMANCE.md). A fixed factor of 1.5 keeps the process near 250 MB at 4,000 msg/s
 * offered (248-253 MB against 309-312 MB with a factor of 3, at the same CPU per message). A
 * `--heap-growing-percent` on node's command line wins.
 */
export function limitHeapGrowth(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((a) => /^--heap[-_]growing[-_]percent\b/.test(a))) return false;
  v8.setFlagsFromString('--heap-growing-percent=50');
  return true;
}

export async function main(): Promise<void> {
  limitHeapGrowth();
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const platform = await startPlatform(config, { logger });
  logger.info({ url: platform.url, database: platform.db.dialect }, 'control plane listening');

  // Human-facing start banner on stderr so JSON logs on stdout stay machine-readable.
  const lines = [``, `  SMS OUT trunk platform is running at ${platform.url}`, `  Management API: ${platform.url}/v1   OpenAPI: ${platform.url}/openapi.json`, `  Web panel: ${platform.url}/panel/`];
  if (platform.bootstrapToken) {
    lines.push(
      ``,
      `  First start: an admin token was generated. It is shown only now (stored as a hash):`,
      ``,
      `    export TRUNKCTL_URL=${platform.url}`,
      `    export TRUNKCTL_TOKEN=${platform.bootstrapToken}`,
      ``,
      `  Lost it? Stop the server and start it once with ADMIN_TOKEN=<your token> to create another.`,
    );
  } else if (config.adminToken) {
    lines.push(`  Admin token: the value of ADMIN_TOKEN (Authorization: Bearer $ADMIN_TOKEN)`);
  } else {
    lines.push(`  Admin tokens: use one you created earlier (trunkctl token create), or set ADMIN_TOKEN`);
  }
  process.stderr.write(lines.join('\n') + '\n\n');

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    platform.stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`failed to start: ${err?.stack ?? err}\n`);
    process.exit(1);
  });
}
