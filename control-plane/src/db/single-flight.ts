/**
 * Concurrent calls with the same key share one call. The send path's caches (credentials, trunk
 * policy, sender DIDs) and the callback worker's secrets reload from the database when an entry
 * expires; under load dozens of requests in flight find it expired at the same moment, and on
 * SQLite's single connection each of their reload queries would queue behind the writers. With
 * this, one query goes out and everyone waiting gets its answer (errors included).
 */
export function singleFlight<A extends unknown[], T>(keyOf: (...args: A) => string, fn: (...args: A) => Promise<T>): (...args: A) => Promise<T> {
  const inFlight = new Map<string, Promise<T>>();
  return (...args: A) => {
    const key = keyOf(...args);
    const running = inFlight.get(key);
    if (running) return running;
    const p = fn(...args).finally(() => inFlight.delete(key));
    inFlight.set(key, p);
    return p;
  };
}
