/**
 * A small line chart drawn with plain SVG (no network, no chart library): one or two series over a
 * shared x axis (steps), the first on the left y axis and the second on the right one, because loss
 * and learning rate live on very different scales. Colours come from the theme via CSS classes.
 */
export interface Series {
  name: string;
  className: string;
  points: { x: number; y: number }[];
}

const SVG = 'http://www.w3.org/2000/svg';
const W = 640, H = 240, PAD = { l: 56, r: 64, t: 16, b: 32 };

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function niceTicks(min: number, max: number, count = 4): number[] {
  if (!(max > min)) return [min];
  const step = 10 ** Math.floor(Math.log10((max - min) / count));
  const err = ((max - min) / count) / step;
  const nice = step * (err >= 7.5 ? 10 : err >= 3.5 ? 5 : err >= 1.5 ? 2 : 1);
  const out: number[] = [];
  for (let v = Math.ceil(min / nice) * nice; v <= max + nice * 1e-9; v += nice) out.push(Number(v.toPrecision(12)));
  return out;
}

export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a < 1e-3 || a >= 1e5 ? v.toExponential(1) : Number(v.toPrecision(3)).toString();
}

/** Returns an `<svg>` element; an empty-state message when there are no points yet. */
export function lineChart(series: Series[], opts: { xLabel?: string; title?: string; empty?: string; xDomain?: [number, number] } = {}): SVGSVGElement {
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': opts.title ?? series.map((s) => s.name).join(' and ') });
  const all = series.flatMap((s) => s.points);
  if (!all.length) {
    root.append(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'chart-empty' }, opts.empty ?? 'No metrics yet: loss and learning rate appear here as the log reports them.'));
    return root;
  }
  const xs = all.map((p) => p.x);
  // A shared domain lines two charts up on one time axis (loss above, GPU use below).
  const xMin = opts.xDomain?.[0] ?? Math.min(...xs), xMax = Math.max(opts.xDomain?.[1] ?? Math.max(...xs), xMin + 1e-9);
  const sx = (x: number) => PAD.l + ((x - xMin) / (xMax - xMin)) * (W - PAD.l - PAD.r);
  // x axis
  root.append(svg('line', { x1: PAD.l, y1: H - PAD.b, x2: W - PAD.r, y2: H - PAD.b, class: 'axis' }));
  for (const t of niceTicks(xMin, xMax, 6)) {
    root.append(svg('line', { x1: sx(t), y1: PAD.t, x2: sx(t), y2: H - PAD.b, class: 'grid' }));
    root.append(svg('text', { x: sx(t), y: H - PAD.b + 16, 'text-anchor': 'middle', class: 'tick' }, formatTick(t)));
  }
  if (opts.xLabel) root.append(svg('text', { x: (W - PAD.r + PAD.l) / 2, y: H - 2, 'text-anchor': 'middle', class: 'axis-label' }, opts.xLabel));

  series.slice(0, 2).forEach((s, i) => {
    if (!s.points.length) return;
    const ys = s.points.map((p) => p.y);
    let yMin = Math.min(...ys), yMax = Math.max(...ys);
    if (yMax === yMin) { yMax += Math.abs(yMax) * 0.1 || 1; yMin -= Math.abs(yMin) * 0.1 || 0; }
    const pad = (yMax - yMin) * 0.05;
    yMin -= pad; yMax += pad;
    const sy = (y: number) => H - PAD.b - ((y - yMin) / (yMax - yMin)) * (H - PAD.t - PAD.b);
    const axisX = i === 0 ? PAD.l : W - PAD.r;
    root.append(svg('line', { x1: axisX, y1: PAD.t, x2: axisX, y2: H - PAD.b, class: `axis ${s.className}` }));
    for (const t of niceTicks(yMin, yMax)) {
      root.append(svg('text', { x: i === 0 ? axisX - 6 : axisX + 6, y: sy(t) + 4, 'text-anchor': i === 0 ? 'end' : 'start', class: `tick ${s.className}` }, formatTick(t)));
    }
    const d = s.points
      .slice()
      .sort((a, b) => a.x - b.x)
      .map((p, j) => `${j ? 'L' : 'M'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`)
      .join('');
    root.append(svg('path', { d, class: `line ${s.className}`, fill: 'none' }));
    const last = s.points[s.points.length - 1]!;
    root.append(svg('circle', { cx: sx(last.x), cy: sy(last.y), r: 3, class: `dot ${s.className}` }));
    // legend
    root.append(svg('text', { x: i === 0 ? PAD.l + 4 : W - PAD.r - 4, y: PAD.t + 10, 'text-anchor': i === 0 ? 'start' : 'end', class: `legend ${s.className}` }, s.name));
  });
  return root;
}
