import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';

/**
 * The checkpoint thread (see Checkpointer in sqlite-client.ts): its own connection to the database
 * file, copying committed WAL frames into the database with PASSIVE checkpoints, which never wait
 * for the writer and never block it. Every `intervalMs` while running; on 'stop' a last one, then
 * it closes and says 'stopped'.
 */
const { file, intervalMs } = workerData as { file: string; intervalMs: number };
const db = new BetterSqlite3(file);
db.pragma('busy_timeout = 5000');

const checkpoint = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    parentPort!.postMessage({ error: String((err as Error)?.message ?? err) });
  }
};
const timer = setInterval(checkpoint, intervalMs);
parentPort!.on('message', (m: string) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort!.postMessage('stopped');
  parentPort!.close();
});
checkpoint();
