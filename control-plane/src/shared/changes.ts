import { EventEmitter } from 'node:events';

export type ChangeKind = 'dids' | 'did_sets' | 'sms_trunks' | 'credentials';

/** Tells in-process caches that committed configuration changed. Emit only after commit. */
export class ChangeFeed {
  private readonly emitter = new EventEmitter();

  changed(kind: ChangeKind, id?: string): void {
    this.emitter.emit('change', kind, id);
  }

  subscribe(fn: (kind: ChangeKind, id?: string) => void): () => void {
    this.emitter.on('change', fn);
    return () => this.emitter.off('change', fn);
  }
}
