import { parentPort, workerData } from 'node:worker_threads';
import { HttpPoster, HttpPosterOptions, PostResult, Signing } from './callback-http';

/**
 * The callback thread (see CallbackPoster): takes batches of `[n, url, body, headers, sendBy, signing]`, signs and POSTs them
 * with HttpPoster and answers `[n, result]` pairs, those finished in the same turn in one message.
 */
const poster = new HttpPoster(workerData as HttpPosterOptions);
let done: Array<[number, PostResult]> = [];
const flush = () => {
  const batch = done;
  done = [];
  parentPort!.postMessage(batch);
};

parentPort!.on('message', (jobs: Array<[number, string, string, Record<string, string>, number, Signing | undefined]>) => {
  for (const [n, url, body, headers, sendBy, signing] of jobs) {
    void poster.post(url, body, headers, sendBy ?? Infinity, signing).then((result) => {
      if (done.length === 0) setImmediate(flush);
      done.push([n, result]);
    });
  }
});
