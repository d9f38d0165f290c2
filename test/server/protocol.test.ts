/** Frame messages: one JSON encoding per frame object, wrapped per subscription id. */
import type { FrameJSON } from '../../src/common/frames';
import { frameMessage } from '../../src/sidecar/server/live/protocol';

const frame = (): FrameJSON => ({ data: { values: [[1_700_000_000_000], [42.5]] } });

describe('frameMessage', () => {
  it('is the live protocol frame message, with or without an id', () => {
    const f = frame();
    expect(JSON.parse(frameMessage('s1', f))).toEqual({ type: 'frame', id: 's1', frame: f });
    expect(JSON.parse(frameMessage(undefined, f))).toEqual({ type: 'frame', frame: f });
  });

  it('escapes ids as JSON', () => {
    const f = frame();
    for (const id of ['a"b', 'line\nbreak', 'back\\slash', '\u2028']) expect(JSON.parse(frameMessage(id, f))).toEqual({ type: 'frame', id, frame: f });
  });

  it('encodes a frame object once: later changes to it are not seen (frames are read-only)', () => {
    const f = frame();
    const first = frameMessage('s1', f);
    (f.data!.values[1] as number[])[0] = 7;
    expect(frameMessage('s2', f)).toBe(first.replace('"s1"', '"s2"'));
  });
});
