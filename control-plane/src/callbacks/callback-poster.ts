import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { HttpPoster, HttpPosterOptions, PostResult, Signing } from './callback-http';

export interface CallbackPosterOptions extends HttpPosterOptions {
  /**
   * POST from a thread of its own (the default): at thousands of callbacks a second the HTTP client
   * and its socket writes cost more CPU than everything else the platform does per message, and
   * on the main thread they would compete with the send API and the carriers.
   */
  thread?: boolean;
}

/**
 * Delivers callback POSTs for the CallbackWorker, from a worker thread running HttpPoster. Posts
 * made in one turn of the event loop go to the thread in one message, and its answers come back
 * the same way. If the thread dies, the posts it held fail (and are retried like any failed
 * attempt) and the next post starts a new thread.
 */
export class CallbackPoster {
  private worker?: Worker;
  private local?: HttpPoster;
  private seq = 0;
  private readonly waiting = new Map<number, (r: PostResult) => void>();
  private queued: Array<[number, string, string, Record<string, string>, number, Signing | undefined]> = [];

  constructor(
    private readonly opts: CallbackPosterOptions,
    private readonly logger: Logger,
  ) {
    if (opts.thread === false) this.local = new HttpPoster(opts);
  }

  /** See HttpPoster.post: `sendBy` is when the post must have started (epoch ms), or it is not sent; `signing` signs it as it goes. */
  post(url: string, body: string, headers: Record<string, string>, sendBy = Infinity, signing?: Signing): Promise<PostResult> {
    if (this.local) return this.local.post(url, body, headers, sendBy, signing);
    return new Promise((resolve) => {
      const n = ++this.seq;
      this.waiting.set(n, resolve);
      if (this.queued.length === 0) setImmediate(() => this.send());
      this.queued.push([n, url, body, headers, sendBy, signing]);
    });
  }

  async close(): Promise<void> {
    this.local?.close();
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }

  private send(): void {
    const jobs = this.queued;
    this.queued = [];
    if (jobs.length === 0) return;
    this.thread().postMessage(jobs);
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const { thread: _thread, ...options } = this.opts;
    // From sources (tests run TypeScript through tsx) the thread registers tsx before loading its module.
    const ext = path.extname(__filename);
    const file = path.join(__dirname, `callback-http-thread${ext}`);
    // The thread's objects live for one request. With a young generation of 8 MB instead of V8's
    // default its heap was 25 MB instead of 48 MB at 2,000 msg/s, for the same CPU per message.
    const resourceLimits = { maxYoungGenerationSizeMb: 8 };
    const worker =
      ext === '.ts'
        ? new Worker(`require('tsx/cjs'); require(${JSON.stringify(file)});`, { eval: true, workerData: options, resourceLimits })
        : new Worker(file, { workerData: options, resourceLimits });
    worker.on('message', (results: Array<[number, PostResult]>) => {
      for (const [n, result] of results) {
        const resolve = this.waiting.get(n);
        this.waiting.delete(n);
        resolve?.(result);
      }
    });
    const lost = (why: string) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      const pending = [...this.waiting.values()];
      this.waiting.clear();
      for (const resolve of pending) resolve({ error: `callback thread ${why}` });
    };
    worker.on('error', (err) => {
      this.logger.error({ err }, 'callback thread failed; starting a new one');
      lost('failed');
    });
    worker.on('exit', (code) => lost(`exited with code ${code}`));
    this.worker = worker;
    return worker;
  }
}
