import { Knex } from 'knex';

interface Waiting<T, R> {
  item: T;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

/**
 * Group commit: callers submit items and get a promise that resolves only after the item is
 * committed. Items that arrive while a transaction is running are written together in the next
 * one, so one fsync covers many requests without weakening the guarantee. If a batch fails, its
 * items are retried one by one so a single bad item fails alone.
 */
export class TransactionBatcher<T, R = void> {
  private queue: Waiting<T, R>[] = [];
  private running = false;
  private drainPromise: Promise<void> = Promise.resolve();

  constructor(
    private readonly knex: Knex,
    private readonly work: (trx: Knex.Transaction, items: T[]) => Promise<R[]>,
    private readonly maxItems = 1000,
    private readonly afterCommit?: (items: T[], results: R[]) => void,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) this.drainPromise = this.drain();
    });
  }

  /** Resolves when everything submitted so far has been written (or has failed). */
  async idle(): Promise<void> {
    while (this.running) await this.drainPromise;
  }

  get pending(): number {
    return this.queue.length;
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxItems);
        try {
          const results = await this.knex.transaction((trx) => this.work(trx, batch.map((w) => w.item)));
          batch.forEach((w, i) => w.resolve(results[i] as R));
          this.afterCommit?.(batch.map((w) => w.item), results);
        } catch (err) {
          if (batch.length === 1) {
            batch[0]!.reject(err);
            continue;
          }
          for (const w of batch) {
            try {
              const [r] = await this.knex.transaction((trx) => this.work(trx, [w.item]));
              w.resolve(r as R);
              this.afterCommit?.([w.item], [r as R]);
            } catch (e) {
              w.reject(e);
            }
          }
        }
      }
    } finally {
      this.running = false;
    }
  }
}
