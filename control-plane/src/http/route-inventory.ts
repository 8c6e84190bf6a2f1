import type { Express, Router } from 'express';

/** One routed operation, with its path written as an OpenAPI template (`/v1/dids/{number}`). */
export interface RouteEntry {
  method: string;
  path: string;
}

/** The shape of `router.listRoutes()` (router ≥ 2.3, the router Express 5 uses). */
interface ListedRoute {
  path: string | RegExp;
  methods: string[] | undefined;
  router: ListingRouter | undefined;
}

interface ListingRouter {
  listRoutes?: () => ListedRoute[];
}

/**
 * Lists every method and path an Express 5 app or router answers, mounted routers included, so
 * tests can compare them with the OpenAPI document.
 *
 * It reads `router.listRoutes()`, the public listing added in router 2.3.0, rather than the layer
 * internals: path-to-regexp v8 keeps a layer's pattern only inside closures, and the layer shape is
 * documented as private. Two kinds of handler are invisible to it and are not used by this app:
 * a mounted Express sub-app (`app.use('/x', otherApp)`) and plain middleware that answers requests
 * itself. The automatic HEAD of every GET route is left out; `.all()` routes come back as method `*`.
 */
export function listRoutes(appOrRouter: Express | Router): RouteEntry[] {
  const router = ('router' in appOrRouter ? (appOrRouter as Express).router : appOrRouter) as unknown as ListingRouter;
  const out = new Map<string, RouteEntry>();
  walk(router, '', out);
  return [...out.values()].sort((a, b) => (a.path === b.path ? a.method.localeCompare(b.method) : a.path.localeCompare(b.path)));
}

function walk(router: ListingRouter, prefix: string, out: Map<string, RouteEntry>): void {
  if (typeof router.listRoutes !== 'function') {
    throw new Error('route-inventory needs router.listRoutes() (router 2.3.0 or later, installed with Express 5.3); check node_modules/router/package.json');
  }
  for (const listed of router.listRoutes()) {
    if (listed.path instanceof RegExp) {
      throw new Error(`route-inventory cannot describe the RegExp route ${String(listed.path)} under ${prefix || '/'}; use a string path`);
    }
    const path = joinPaths(prefix, toOpenApiTemplate(listed.path));
    if (listed.router) {
      walk(listed.router, path, out);
      continue;
    }
    const methods = listed.methods ?? [];
    for (const method of methods) {
      if (method === 'HEAD' && methods.includes('GET')) continue;
      out.set(`${method} ${path}`, { method, path });
    }
  }
}

/** `/sms_trunks/:id` → `/sms_trunks/{id}`; refuses the path-to-regexp v8 syntax an OpenAPI path cannot express. */
export function toOpenApiTemplate(expressPath: string): string {
  if (/[*{}()?+\\]/.test(expressPath.replace(/:("[^"]+"|[A-Za-z_$][\w$]*)/g, ''))) {
    throw new Error(`route-inventory cannot write ${JSON.stringify(expressPath)} as an OpenAPI path: optional groups, wildcards and escapes have no OpenAPI form`);
  }
  return expressPath.replace(/:(?:"([^"]+)"|([A-Za-z_$][\w$]*))/g, (_m, quoted: string | undefined, plain: string | undefined) => `{${quoted ?? plain}}`);
}

function joinPaths(prefix: string, path: string): string {
  const tail = path === '/' ? '' : path.replace(/\/+$/, '');
  const joined = `${prefix.replace(/\/+$/, '')}${tail.startsWith('/') || tail === '' ? tail : `/${tail}`}`;
  return joined === '' ? '/' : joined;
}
