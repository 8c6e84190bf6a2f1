import { Knex } from 'knex';

interface Waiting<T, R> {
  item: T;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

/** What hands items to a group commit and hears back once each is committed: a TransactionBatcher, or the store thread's (RemoteBatcher). */
export interface Batcher<T, R = void> {
  submit(item: T): Promise<R>;
  /** Resolves when everything submitted so far has been written (or has failed). */
  idle(): Promise<void>;
}

/**
 * Group commit: callers submit items and get a promise that resolves only after the item is
 * committed. Items that arrive while a transaction is running are written together in the next
 * one, so one fsync covers many requests without weakening the guarantee. If a batch fails, its
 * items are retried one by one so a single bad item fails alone.
 *
 * Batchers given the same CommitGroup share their transactions: each round commits every member's
 * waiting batch together (see CommitGroup).
 */
export class TransactionBatcher<T, R = void> implements Batcher<T, R> {
  private queue: Waiting<T, R>[] = [];
  private running = false;
  private drainPromise: Promise<void> = Promise.resolve();

  constructor(
    private readonly knex: Knex,
    /** `chainDone`, in a CommitGroup round and for an `alongside` member: settles once the members that write in turn have written. */
    private readonly work: (trx: Knex.Transaction, items: T[], chainDone?: Promise<void>) => Promise<R[]>,
    private readonly maxItems = 1000,
    private readonly afterCommit?: (items: T[], results: R[]) => void,
    private readonly group?: CommitGroup,
    /**
     * In a CommitGroup's round, write alongside the other members instead of after them: for a
     * member whose writes never touch rows the others' writes in the same round touch or read, or
     * that waits for `chainDone` before it would.
     */
    readonly alongside = false,
  ) {
    group?.join(this);
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.group) this.group.kick();
      else if (!this.running) this.drainPromise = this.drain();
    });
  }

  /** Resolves when everything submitted so far has been written (or has failed). */
  async idle(): Promise<void> {
    if (this.group) return this.group.idle();
    while (this.running) await this.drainPromise;
  }

  get pending(): number {
    return this.queue.length;
  }

  /** @internal CommitGroup: the next batch, taken off the queue. */
  takeBatch(): Waiting<T, R>[] {
    return this.queue.splice(0, this.maxItems);
  }

  /** @internal CommitGroup: writes a batch inside the group's transaction. */
  write(trx: Knex.Transaction, batch: Waiting<T, R>[], chainDone?: Promise<void>): Promise<R[]> {
    return this.work(trx, batch.map((w) => w.item), chainDone);
  }

  /** @internal CommitGroup: the batch is committed. */
  settle(batch: Waiting<T, R>[], results: R[]): void {
    batch.forEach((w, i) => w.resolve(results[i] as R));
    this.afterCommit?.(batch.map((w) => w.item), results);
  }

  /** Commits a batch in a transaction of its own; when that fails, item by item so a bad item fails alone. */
  async commitAlone(batch: Waiting<T, R>[]): Promise<void> {
    try {
      const results = await this.knex.transaction((trx) => this.write(trx, batch));
      this.settle(batch, results);
    } catch (err) {
      if (batch.length === 1) {
        batch[0]!.reject(err);
        return;
      }
      for (const w of batch) {
        try {
          const [r] = await this.knex.transaction((trx) => this.work(trx, [w.item]));
          this.settle([w], [r as R]);
        } catch (e) {
          w.reject(e);
        }
      }
    }
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) await this.commitAlone(this.takeBatch());
    } finally {
      this.running = false;
    }
  }
}

/**
 * Batchers that commit together: each round takes every member's waiting batch and writes them
 * all in one transaction. Members write in the order they joined, except those marked `alongside`,
 * which write at the same time as that chain: a round lasts as long as its longest chain of
 * dependent statements, each of which costs an event-loop round trip. On SQLite, where one
 * connection runs one transaction at a time anyway, that is one fsync per round instead of one per
 * batcher, and an accepted message waits for at most the round in progress instead of for each
 * other batcher's transaction in turn. A round takes its batches once BEGIN has come back, and the
 * next round's BEGIN goes out before the finished round's callers hear back. If the round fails,
 * each batch is committed on its own (and then item by item), so a bad item still fails alone.
 */
export class CommitGroup {
  private readonly members: TransactionBatcher<any, any>[] = [];
  private running = false;
  private drainPromise: Promise<void> = Promise.resolve();

  constructor(
    private readonly knex: Knex,
    /** Called as each round takes its batches (once the rounds before it have settled). */
    private readonly onRoundStart?: () => void,
  ) {}

  /** @internal TransactionBatcher's constructor. */
  join(member: TransactionBatcher<any, any>): void {
    this.members.push(member);
  }

  /** @internal Something was submitted: start a round unless one is running (it loops until every queue is empty). */
  kick(): void {
    if (!this.running) this.drainPromise = this.drain();
  }

  async idle(): Promise<void> {
    while (this.running) await this.drainPromise;
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      let next = this.pending() ? this.round() : undefined;
      while (next) {
        const done = await next;
        // The next round's BEGIN goes out before this round's callers hear back (its batches are taken
        // when BEGIN returns, so whatever they submit meanwhile still goes in it).
        next = this.pending() ? this.round() : undefined;
        for (const { m, batch, result } of done) m.settle(batch, result);
        if (!next && this.pending()) next = this.round();
      }
    } finally {
      this.running = false;
    }
  }

  private pending(): boolean {
    return this.members.some((m) => m.pending > 0);
  }

  /** One round: the committed batches with their results, or none when it failed and each batch was committed on its own. */
  private async round(): Promise<Array<{ m: TransactionBatcher<any, any>; batch: Waiting<any, any>[]; result: unknown[] }>> {
    let round: Array<{ m: TransactionBatcher<any, any>; batch: Waiting<any, any>[] }> = [];
    try {
      const results = await this.knex.transaction(async (trx) => {
        // Taken once the transaction has begun: what arrived during BEGIN's round trip goes too.
        this.onRoundStart?.();
        round = this.takeRound();
        const out: unknown[][] = new Array(round.length);
        const chain = (async () => {
          for (const [i, { m, batch }] of round.entries()) if (!m.alongside) out[i] = await m.write(trx, batch);
        })();
        const beside = round.map(async ({ m, batch }, i) => {
          if (m.alongside) out[i] = await m.write(trx, batch, chain);
        });
        // Every write has ended before a failure rolls the round back.
        const settled = await Promise.allSettled([chain, ...beside]);
        const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
        return out;
      });
      return round.map(({ m, batch }, i) => ({ m, batch, result: results[i]! }));
    } catch {
      // The round failed, or the transaction did not even begin (then its batches are taken now).
      if (round.length === 0) round = this.takeRound();
      for (const { m, batch } of round) await m.commitAlone(batch);
      return [];
    }
  }

  private takeRound(): Array<{ m: TransactionBatcher<any, any>; batch: Waiting<any, any>[] }> {
    return this.members.map((m) => ({ m, batch: m.takeBatch() })).filter((r) => r.batch.length > 0);
  }
}
