/**
 * The channel search's matcher: a case-insensitive substring glob (`*` any run, `?` one
 * character) matched without regular expressions, so a pattern a client sends can never
 * backtrack. Work per text is O(text length × pattern length), both bounded.
 */

/** Pieces between stars; each is matched left to right at its earliest place. */
export interface Glob {
  readonly segments: readonly string[];
}

/** Compiles `pattern` (lower-cased; runs of `*` are one star; the match is a substring match). */
export function compileGlob(pattern: string): Glob {
  return { segments: pattern.toLowerCase().split('*').filter((s) => s !== '') };
}

/**
 * True when the pattern occurs in `text`. Since the pattern is implicitly `*p*`, matching
 * each star-free segment at its earliest position is exact: a later position for one
 * segment never lets the next one match where the earlier could not.
 */
export function globMatches(glob: Glob, text: string): boolean {
  const s = text.toLowerCase();
  let at = 0;
  for (const seg of glob.segments) {
    const found = indexOfSegment(s, seg, at);
    if (found < 0) return false;
    at = found + seg.length;
  }
  return true;
}

/** First index >= from where `seg` (with `?` as any one character) matches `s`, or -1. */
function indexOfSegment(s: string, seg: string, from: number): number {
  if (!seg.includes('?')) return s.indexOf(seg, from);
  const last = s.length - seg.length;
  outer: for (let i = from; i <= last; i++) {
    for (let j = 0; j < seg.length; j++) {
      const c = seg.charCodeAt(j);
      if (c !== 63 /* ? */ && c !== s.charCodeAt(i + j)) continue outer;
    }
    return i;
  }
  return -1;
}
