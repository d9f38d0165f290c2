/**
 * The slow-client queue on its own, against a transport whose writes complete only when the
 * test says so (a real socket's buffers are too large to fill quickly in a test).
 */
import { SendQueue, type QueueEntry, type Sink } from '../../src/sidecar/server/live/send-queue';

class SlowSink implements Sink {
  bufferedAmount = 0;
  readonly written: string[] = [];
  private pending: Array<() => void> = [];

  send(data: string, done: (err?: Error) => void): void {
    this.bufferedAmount += data.length;
    this.pending.push(() => {
      this.bufferedAmount -= data.length;
      this.written.push(data);
      done();
    });
  }

  /** Completes the oldest `n` writes (the client read them). */
  flush(n = Infinity): void {
    while (n-- > 0 && this.pending.length) this.pending.shift()!();
  }

  get inFlight(): number {
    return this.pending.length;
  }
}

const frame = (i: number): QueueEntry<string> => ({ data: `f${i}`, droppable: true, frame: true, tag: 's' });

describe('SendQueue', () => {
  it('keeps at most maxQueued waiting, dropping the oldest data frames but never schema frames or control messages', () => {
    const sink = new SlowSink();
    const dropped: string[] = [];
    const q = new SendQueue<string>(sink, { maxQueued: 4, maxInFlight: 1, onDrop: (e) => dropped.push(e.data as string) });
    q.push({ data: 'schema', droppable: false, frame: true });
    q.push({ data: 'subscribed', droppable: false });
    for (let i = 0; i < 10; i++) q.push(frame(i));
    // 'schema' is with the transport; 4 wait: 'subscribed' plus the newest 3 frames.
    expect(sink.inFlight).toBe(1);
    expect(q.length).toBe(4);
    expect(dropped).toEqual(['f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6']);
    sink.flush();
    sink.flush();
    sink.flush();
    sink.flush();
    sink.flush();
    expect(sink.written).toEqual(['schema', 'subscribed', 'f7', 'f8', 'f9']);
  });

  it('stops handing data to the transport above the high-water mark and resumes as it drains', () => {
    const sink = new SlowSink();
    const q = new SendQueue<string>(sink, { maxQueued: 100, highWaterBytes: 10, maxInFlight: 100 });
    for (let i = 0; i < 20; i++) q.push({ data: 'xxxx', droppable: true });
    // 3 × 4 bytes reach the mark of 10.
    expect(sink.inFlight).toBe(3);
    expect(q.length).toBe(17);
    sink.flush(1);
    expect(sink.inFlight).toBe(3);
    sink.flush();
    sink.flush();
    sink.flush();
    sink.flush();
    sink.flush();
    sink.flush();
    expect(sink.written).toHaveLength(20);
  });

  it('sends at once when nothing of its own is pending, whatever else the transport holds', () => {
    const sink = new SlowSink();
    const q = new SendQueue<string>(sink, { maxQueued: 100, highWaterBytes: 10, maxInFlight: 100 });
    sink.bufferedAmount = 50; // e.g. a ping written by the library, not through the queue
    q.push({ data: 'a', droppable: true });
    expect(sink.inFlight).toBe(1);
    // With a send pending, the high-water mark applies again.
    q.push({ data: 'b', droppable: true });
    expect(sink.inFlight).toBe(1);
    expect(q.length).toBe(1);
    sink.bufferedAmount = 1;
    sink.flush(1);
    expect(sink.written).toEqual(['a']);
    expect(sink.inFlight).toBe(1); // 'b' followed when 'a' completed
    sink.flush();
    expect(sink.written).toEqual(['a', 'b']);
  });

  it('reports an overflow when even undroppable messages pile up, and holds no more', () => {
    const sink = new SlowSink();
    let overflows = 0;
    const q = new SendQueue<string>(sink, { maxQueued: 2, maxInFlight: 1, onOverflow: () => overflows++ });
    for (let i = 0; i < 10; i++) q.push({ data: `c${i}`, droppable: false });
    expect(overflows).toBeGreaterThan(0);
    q.close();
    q.push({ data: 'late', droppable: false });
    expect(q.length).toBe(0);
  });

  it('renders lazy entries when they are sent and purges by tag', () => {
    const sink = new SlowSink();
    let n = 0;
    const q = new SendQueue<string>(sink, { maxQueued: 10, maxInFlight: 1 });
    q.push({ data: 'first', droppable: false });
    q.push({ data: () => `count=${n}`, droppable: false });
    q.push({ ...frame(1), tag: 'gone' });
    q.purge((e) => e.tag === 'gone');
    n = 5;
    sink.flush();
    sink.flush();
    sink.flush();
    expect(sink.written).toEqual(['first', 'count=5']);
  });
});
