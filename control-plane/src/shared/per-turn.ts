/**
 * Collects what one turn of the event loop produces and hands it over once, when the turn ends
 * (setImmediate): between threads, one postMessage per turn instead of one per item.
 */
export class PerTurn<T> {
  private items: T[] = [];

  constructor(private readonly handOver: (items: T[]) => void) {}

  push(item: T): void {
    if (this.items.length === 0) setImmediate(() => this.flush());
    this.items.push(item);
  }

  /** Hands over what was collected so far, now (the end of the turn then finds nothing). */
  flush(): void {
    const items = this.items;
    if (items.length === 0) return;
    this.items = [];
    this.handOver(items);
  }

  /** Drops what was collected and not handed over yet; returns it. */
  clear(): T[] {
    const items = this.items;
    this.items = [];
    return items;
  }
}
