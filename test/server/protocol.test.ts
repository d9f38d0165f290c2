/** Frame messages as bytes: encoded once per frame and subscription id, always the same text. */
import type { FrameJSON } from '../../src/common/frames';
import { frameMessage, frameMessageBytes } from '../../src/sidecar/server/live/protocol';

const frame = (): FrameJSON => ({ data: { values: [[1_700_000_000_000], [42.5]] } });

describe('frameMessageBytes', () => {
  it('is the UTF-8 of frameMessage, parseable as the live protocol message', () => {
    const f = frame();
    const bytes = frameMessageBytes('s1', f);
    expect(bytes.toString('utf8')).toBe(frameMessage('s1', f));
    expect(JSON.parse(bytes.toString('utf8'))).toEqual({ type: 'frame', id: 's1', frame: f });
  });

  it('shares one encoding among the subscribers of a frame that use the same id', () => {
    const f = frame();
    expect(frameMessageBytes('s1', f)).toBe(frameMessageBytes('s1', f));
    expect(frameMessageBytes('s2', f)).not.toBe(frameMessageBytes('s1', f));
    // Another frame object is another message, even with equal content.
    expect(frameMessageBytes('s1', frame())).not.toBe(frameMessageBytes('s1', f));
  });

  it('stays correct past the cached ids, and escapes ids as JSON', () => {
    const f = frame();
    for (let i = 0; i < 200; i++) {
      const id = `sub "${i}"\n`;
      expect(JSON.parse(frameMessageBytes(id, f).toString('utf8'))).toEqual({ type: 'frame', id, frame: f });
    }
  });
});
