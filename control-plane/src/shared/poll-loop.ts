/**
 * The scheduling both workers share: run `tick` now when woken, again at once while it reports
 * more work, otherwise after `pollMs` (other instances' work shows up that way). Never two ticks
 * at a time; `stop()` waits for the running one.
 */
export class PollLoop {
  private running = false;
  private ticking = false;
  /** A wake that came while a tick ran: the work it announces may have been committed after that tick's query. */
  private wokenWhileTicking = false;
  private timer?: NodeJS.Timeout;
  private current: Promise<void> = Promise.resolve();

  constructor(
    /** Resolves true when it found work and should run again at once. */
    private readonly tick: () => Promise<boolean>,
    private readonly pollMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  get isRunning(): boolean {
    return this.running;
  }

  start(): void {
    this.running = true;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.current;
  }

  wake(): void {
    if (!this.running) return;
    if (this.ticking) this.wokenWhileTicking = true;
    else this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.current = this.run();
    }, ms);
  }

  private async run(): Promise<void> {
    if (!this.running || this.ticking) return;
    this.ticking = true;
    this.wokenWhileTicking = false;
    let more = false;
    try {
      more = await this.tick();
    } catch (err) {
      this.onError(err);
    } finally {
      this.ticking = false;
    }
    if (this.running) this.schedule(more || this.wokenWhileTicking ? 0 : this.pollMs);
  }
}
