import http from 'node:http';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
  text: string;
}

/**
 * A plain node:http client, so tests can choose the local address (127.0.0.2, ::1) the request
 * comes from — the platform sees exactly that socket address.
 */
export function request(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; localAddress?: string } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, localAddress: opts.localAddress, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        let body: unknown;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

export const basic = (username: string, password: string) => `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

export const single = (attributes: Record<string, unknown>) => JSON.stringify({ data: { type: 'outbound_messages', attributes } });
export const bulk = (attributes: Record<string, unknown>) => JSON.stringify({ data: { type: 'bulk_outbound_messages', attributes } });

/** POSTs a DIDWW document with the trunk's Basic credentials. */
export function sendSms(baseUrl: string, auth: string, body: string, extra: { path?: string; headers?: Record<string, string>; localAddress?: string } = {}) {
  return request(`${baseUrl}${extra.path ?? '/outbound_messages'}`, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/vnd.api+json', ...extra.headers },
    body,
    localAddress: extra.localAddress,
  });
}
