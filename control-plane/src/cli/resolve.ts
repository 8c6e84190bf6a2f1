import { ApiClient, ApiError } from './api-client';
import { CliError } from './cli-context';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A resource found by id or name, in the shape GET /v1/<collection>/:id returns it. */
export interface ResourceDoc {
  data: { type: string; id: string; attributes: Record<string, any>; relationships?: Record<string, any>; meta?: Record<string, any> };
}

/**
 * Finds a trunk or DID set by id or by name. Ids are UUIDs; a UUID-shaped argument that is not an
 * id is still tried as a name, so no name is ever unreachable.
 */
export async function resolveByIdOrName(client: ApiClient, collection: 'sms_trunks' | 'did_sets', ref: string): Promise<ResourceDoc> {
  if (UUID.test(ref)) {
    try {
      return await client.get<ResourceDoc>(`/v1/${collection}/${ref}`);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
  }
  const found = await findByName(client, collection, ref);
  if (!found) throw new CliError(`no ${collection === 'sms_trunks' ? 'trunk' : 'DID set'} with the id or name ${JSON.stringify(ref)}`);
  return { data: found };
}

export async function findByName(client: ApiClient, collection: 'sms_trunks' | 'did_sets', name: string): Promise<ResourceDoc['data'] | undefined> {
  const page = await client.get<{ data: ResourceDoc['data'][] }>(`/v1/${collection}`, { 'filter[name]': name });
  return page.data[0];
}

/** Every item of a collection, following `links.next`; the largest page keeps it to one request in practice. */
export async function listAll(client: ApiClient, path: string): Promise<{ data: any[]; meta: { total: number } }> {
  const data: any[] = [];
  let next: string | null = `${path}?page%5Bsize%5D=1000`;
  let total = 0;
  while (next) {
    const page: any = await client.get(next);
    data.push(...page.data);
    total = page.meta?.total ?? data.length;
    next = page.links?.next ?? null;
  }
  return { data, meta: { total } };
}
