import path from 'node:path';
import { CliError, Output } from './cli-context';
import { readFile } from './spec-files';

/** Below this size an upload is over before a bar could be drawn. */
export const PROGRESS_MIN_BYTES = 512 * 1024;
const CHUNK_BYTES = 64 * 1024;

export interface ImportBody {
  body: Buffer;
  contentType: string;
}

/**
 * The request body for POST /v1/dids/import. CSV goes as it is (the server parses it, so the file
 * is validated in one place); JSON may be a plain array of DIDs, wrapped here into JSON:API.
 */
export function readDidImport(file: string): ImportBody {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.csv') return { body: readFile(file), contentType: 'text/csv' };
  if (ext !== '.json') throw new CliError(`${file}: the file name must end in .csv or .json, so the format is known`);
  const raw = readFile(file);
  let doc: unknown;
  try {
    doc = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new CliError(`${file}: not valid JSON: ${(err as Error).message}`);
  }
  if (Array.isArray(doc)) {
    const data = doc.map((attributes) => ({ type: 'dids', attributes }));
    return { body: Buffer.from(JSON.stringify({ data })), contentType: 'application/vnd.api+json' };
  }
  if (typeof doc === 'object' && doc !== null && Array.isArray((doc as { data?: unknown }).data)) {
    return { body: raw, contentType: 'application/vnd.api+json' };
  }
  throw new CliError(`${file}: expected an array of {"number", "capabilities", "description"} objects or a JSON:API document {"data": [...]}`);
}

/**
 * Wraps a body so a progress bar follows the upload on an interactive stderr. The bar counts
 * bytes as the client writes them, which the socket's backpressure keeps close to bytes sent.
 */
export async function withUploadProgress(body: Buffer, stderr: Output): Promise<{ body: Buffer | AsyncIterable<Uint8Array>; stop(): void }> {
  if (!stderr.isTTY || body.length < PROGRESS_MIN_BYTES) return { body, stop: () => {} };
  // Loaded on demand: most runs draw no bar, and every command should start fast.
  const { Presets, SingleBar } = await import('cli-progress');
  const bar = new SingleBar(
    {
      stream: stderr as NodeJS.WritableStream,
      format: 'uploading [{bar}] {percentage}% | {sent} of {size}',
      hideCursor: true,
      clearOnComplete: true,
    },
    Presets.legacy,
  );
  bar.start(body.length, 0, { sent: kib(0), size: kib(body.length) });
  let stopped = false;
  const stop = () => {
    if (!stopped) bar.stop();
    stopped = true;
  };
  async function* chunks(): AsyncIterable<Uint8Array> {
    for (let offset = 0; offset < body.length; offset += CHUNK_BYTES) {
      const end = Math.min(offset + CHUNK_BYTES, body.length);
      yield body.subarray(offset, end);
      bar.update(end, { sent: kib(end) });
    }
    stop();
  }
  return { body: chunks(), stop };
}

const kib = (bytes: number) => (bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${Math.round(bytes / 1024)} KiB`);
