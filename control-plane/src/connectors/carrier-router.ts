import type { Carrier } from './carrier';

export interface Route {
  /** Destination digits prefix, e.g. "44" or "1212". */
  prefix: string;
  connector: string;
}

/**
 * Destination-prefix routing: the longest matching prefix wins, otherwise the default connector.
 * Built once from configuration; lookups are a walk over a sorted array (tens of routes).
 */
export class CarrierRouter {
  private readonly sorted: Route[];

  constructor(
    readonly carriers: Map<string, Carrier>,
    routes: Route[],
    readonly defaultConnector: string | null,
  ) {
    for (const r of routes) {
      if (!/^\d{1,15}$/.test(r.prefix)) throw new Error(`route prefix ${JSON.stringify(r.prefix)} must be 1 to 15 digits`);
      if (!carriers.has(r.connector)) throw new Error(`route ${r.prefix} names unknown connector ${JSON.stringify(r.connector)}`);
    }
    if (defaultConnector !== null && !carriers.has(defaultConnector)) throw new Error(`default connector ${JSON.stringify(defaultConnector)} is not configured`);
    this.sorted = [...routes].sort((a, b) => b.prefix.length - a.prefix.length);
  }

  get routes(): readonly Route[] {
    return this.sorted;
  }

  route(destination: string): Carrier | undefined {
    for (const r of this.sorted) if (destination.startsWith(r.prefix)) return this.carriers.get(r.connector);
    return this.defaultConnector === null ? undefined : this.carriers.get(this.defaultConnector);
  }
}
