import fs from 'node:fs';
import type { Logger } from 'pino';
import type { Carrier } from './carrier';
import { CarrierRouter, Route } from './carrier-router';
import { SimulatorCarrier, SimulatorRule } from './simulator';
import { ThreadedCarrier } from './carrier-thread';
import { SmppCarrier } from './smpp-connector';

/**
 * CARRIERS_FILE layout (JSON). Secrets are never in the file: an SMPP password is read from the
 * environment variable that `passwordEnv` names.
 *
 * { "connectors": [ { "name": "sim", "type": "simulator", "receiptDelayMs": 200 },
 *                   { "name": "uk", "type": "smpp", "host": "10.0.0.5", "port": 2775,
 *                     "systemId": "acme", "passwordEnv": "UK_SMPP_PASSWORD", "windowSize": 10,
 *                     "maxSubmitsPerSecond": 100 } ],
 *   (an SMPP connector runs on a thread of its own unless it says "thread": false)
 *   "routes": [ { "prefix": "44", "connector": "uk" } ],
 *   "default": "sim" }
 */
export interface CarriersFile {
  connectors: Array<Record<string, unknown> & { name: string; type: 'simulator' | 'smpp' }>;
  routes?: Route[];
  default?: string | null;
}

export function loadCarriersFile(file: string): CarriersFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`CARRIERS_FILE ${file} cannot be read as JSON: ${(err as Error).message}`);
  }
  const f = parsed as CarriersFile;
  if (!f || !Array.isArray(f.connectors) || f.connectors.length === 0) throw new Error(`CARRIERS_FILE ${file} must hold a non-empty "connectors" array`);
  return f;
}

export function buildCarriers(spec: CarriersFile, env: NodeJS.ProcessEnv, logger: Logger): CarrierRouter {
  const carriers = new Map<string, Carrier>();
  for (const c of spec.connectors) {
    if (typeof c.name !== 'string' || !/^[a-z0-9][a-z0-9_-]{0,63}$/i.test(c.name)) throw new Error(`connector name ${JSON.stringify(c.name)} must be 1-64 letters, digits, - or _`);
    if (carriers.has(c.name)) throw new Error(`connector name ${c.name} is used twice`);
    const log = logger.child({ connector: c.name });
    if (c.type === 'simulator') {
      const rules = Array.isArray(c.rules) ? (c.rules as SimulatorRule[]) : undefined;
      carriers.set(c.name, new SimulatorCarrier({ name: c.name, rules, receiptDelayMs: num(c.receiptDelayMs), delayMs: num(c.delayMs), duplicateReceipts: c.duplicateReceipts === true, reorder: c.reorder === true, logger: log }));
    } else if (c.type === 'smpp') {
      const passwordEnv = String(c.passwordEnv ?? '');
      const password = env[passwordEnv];
      if (!passwordEnv || password === undefined) throw new Error(`connector ${c.name}: set passwordEnv to the name of an environment variable holding the SMPP password`);
      if (c.thread !== undefined && typeof c.thread !== 'boolean') throw new Error(`connector ${c.name}: thread must be true or false`);
      const options = {
        name: c.name,
        host: String(c.host),
        port: Number(c.port),
        systemId: String(c.systemId),
        password,
        systemType: c.systemType === undefined ? undefined : String(c.systemType),
        windowSize: num(c.windowSize),
        maxSubmitsPerSecond: num(c.maxSubmitsPerSecond),
        enquireLinkIntervalMs: num(c.enquireLinkIntervalMs),
        submitTimeoutMs: num(c.submitTimeoutMs),
        responseTimeoutMs: num(c.responseTimeoutMs),
      };
      // Built here either way, so that bad options fail the start with the connector's own message.
      const inProcess = new SmppCarrier({ ...options, logger: log });
      carriers.set(c.name, c.thread === false ? inProcess : new ThreadedCarrier({ type: 'smpp', options }, log));
    } else {
      throw new Error(`connector ${c.name}: type must be "simulator" or "smpp"`);
    }
  }
  const def = spec.default === undefined ? (spec.connectors[0]?.name ?? null) : spec.default;
  return new CarrierRouter(carriers, spec.routes ?? [], def);
}

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
