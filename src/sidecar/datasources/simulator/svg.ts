/**
 * The sparkline blob: a small standalone SVG of one channel's recent values. Pure string
 * building; every piece of user text goes through `escapeXml`.
 */

/** Escapes text for XML content and attribute values; drops characters XML 1.0 cannot carry. */
export function escapeXml(s: string): string {
  return (
    s
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '\ufffd')
      // Lone surrogates are not characters either.
      .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&#39;')
  );
}

export interface SparklineInput {
  title: string;
  width: number;
  height: number;
  /** Sample times (epoch ms), ascending; x runs over [from, to). */
  times: Float64Array;
  values: Float64Array;
  from: number;
  to: number;
}

/** Two decimals are sub-pixel and keep the document small. */
function fmt(n: number): string {
  return String(Math.round(n * 100) / 100);
}

export function renderSparkline(input: SparklineInput): string {
  const { width, height, times, values, from, to } = input;
  const title = escapeXml(input.title);
  const pad = 1;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${title}">`,
    `<title>${title}</title>`,
  ];
  if (values.length === 0 || !Number.isFinite(min) || !Number.isFinite(max)) {
    parts.push(`<text x="${fmt(width / 2)}" y="${fmt(height / 2)}" text-anchor="middle" dominant-baseline="middle" font-size="10" fill="currentColor">no data</text>`);
  } else {
    const span = to - from;
    const range = max - min;
    const points: string[] = new Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const x = span > 0 ? pad + ((times[i] - from) / span) * (width - 2 * pad) : width / 2;
      // A flat series draws through the middle instead of dividing by zero.
      const y = range > 0 ? pad + ((max - values[i]) / range) * (height - 2 * pad) : height / 2;
      points[i] = `${fmt(x)},${fmt(y)}`;
    }
    parts.push(`<polyline fill="none" stroke="currentColor" stroke-width="1" stroke-linejoin="round" points="${points.join(' ')}"/>`);
  }
  parts.push('</svg>');
  return parts.join('');
}
