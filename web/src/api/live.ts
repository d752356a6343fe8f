// Live progress of one prompt or tune: the event stream when the server offers one, otherwise polling the object.
// Either way the watcher ends with a fresh copy of the object in its final state.
import { ApiError, type AtelierClient } from './client.ts';
import { type ProgressUpdate, parseProgress } from './progress.ts';

const POLL_MS = 1500;
/**
 * Browsers allow about six HTTP/1.1 connections per host, and each open event stream holds one for as long as its
 * prompt runs. Past this many streams, further watchers poll instead, so API calls always find a free connection.
 */
export const MAX_OPEN_STREAMS = 3;
let openStreams = 0;

interface WatchOptions<T> {
  client: AtelierClient;
  eventsPath: string;
  fetchObject: () => Promise<T>;
  isDone: (obj: T) => boolean;
  toUpdate: (obj: T) => ProgressUpdate;
  onUpdate: (u: ProgressUpdate) => void;
  signal: AbortSignal;
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled', 'trained']);

export async function watch<T>(o: WatchOptions<T>): Promise<T | null> {
  let streamed = false;
  if (openStreams < MAX_OPEN_STREAMS) {
    openStreams++;
    try {
      streamed = await followStream(o);
    } finally {
      openStreams--;
    }
  }
  while (!o.signal.aborted) {
    const obj = await o.fetchObject();
    o.onUpdate(o.toUpdate(obj));
    if (streamed || o.isDone(obj)) return obj;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return null;
}

/** Follows the event stream; true when it reported a final state. */
async function followStream<T>(o: WatchOptions<T>): Promise<boolean> {
  try {
    let sawTerminal = false;
    await o.client.follow(
      o.eventsPath,
      (ev) => {
        const u = parseProgress(ev);
        if (!u) return;
        o.onUpdate(u);
        if (u.status && TERMINAL.has(u.status)) sawTerminal = true;
      },
      o.signal,
    );
    return sawTerminal;
  } catch (e) {
    // No stream here (older server, or none for this resource): poll instead. Other errors surface on poll.
    if (!(e instanceof ApiError) && !o.signal.aborted) console.warn('event stream failed, polling', e);
    return false;
  }
}
