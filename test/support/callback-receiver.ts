import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedCallback {
  headers: http.IncomingHttpHeaders;
  body: string;
  json: any;
  receivedAt: number;
}

/**
 * A real HTTP server on 127.0.0.1 that records callbacks. `respond` decides each answer, so tests
 * can make it fail, stall or recover.
 */
export class CallbackReceiver {
  readonly received: ReceivedCallback[] = [];
  respond: (cb: ReceivedCallback, n: number) => { status: number; headers?: Record<string, string>; delayMs?: number } = () => ({ status: 200 });
  private server?: http.Server;
  private waiters: Array<{ pred: () => boolean; resolve: () => void }> = [];
  url = '';

  async start(host = '127.0.0.1'): Promise<this> {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        const cb: ReceivedCallback = { headers: req.headers, body, json, receivedAt: Date.now() };
        const answer = this.respond(cb, this.received.length);
        const finish = () => {
          if (answer.status >= 200 && answer.status < 300) this.received.push(cb);
          res.writeHead(answer.status, answer.headers ?? {});
          res.end();
          this.check();
        };
        if (answer.delayMs) setTimeout(finish, answer.delayMs);
        else finish();
      });
    });
    this.server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve) => this.server!.listen(0, host, resolve));
    const port = (this.server.address() as AddressInfo).port;
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/callbacks`;
    return this;
  }

  /** Waits until `pred` holds over the received callbacks, failing after `timeoutMs`. */
  waitFor(pred: (received: ReceivedCallback[]) => boolean, timeoutMs = 10_000, what = 'callbacks'): Promise<void> {
    if (pred(this.received)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { pred: () => pred(this.received), resolve: () => undefined as void };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received ${this.received.length}: ${this.received.map((r) => r.body.slice(0, 120)).join('\n')}`));
      }, timeoutMs);
      w.resolve = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push(w);
    });
  }

  private check(): void {
    for (const w of [...this.waiters]) {
      if (w.pred()) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve();
      }
    }
  }

  forMessage(id: string): ReceivedCallback[] {
    return this.received.filter((r) => r.json?.data?.id === id);
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
