// The frame sent to the model: the ink as strokes in pad pixels, as the contract's `strokes`
// form has it. The server redraws them with a pen scaled to the digit, so a tiny digit in a
// corner reads like a big one (a picture of the pad would already be filled in by our pen).

// The server's limits (realtime/pipeline/strokes.py); kept under so a frame is never refused.
export const MAX_STROKES = 64;
const MAX_POINTS = 4000;
// A first stroke shorter than this share of the pad is a dot or a start, not yet a digit.
const SHORT_INK = 0.12;

/** {strokes, size} for a snapshot or the fallback POST, or null when there is no ink. */
export function strokesPayload(strokes, side) {
  const lines = strokes.slice(0, MAX_STROKES).map((s) => s.points);
  const total = lines.reduce((n, points) => n + points.length, 0);
  if (total === 0) return null;
  // A long scribble keeps every k-th point (and each stroke's ends) to stay within the limit.
  const step = Math.ceil(total / MAX_POINTS);
  const px = (v) => Math.round(v * side * 10) / 10;
  return {
    strokes: lines.map((points) => points
      .filter((_, i) => i % step === 0 || i === points.length - 1)
      .map(([x, y]) => [px(x), px(y)])),
    size: [side, side],
  };
}

/** True once the ink is more than a first short stroke: earlier answers would be noise. */
export function enoughInk(strokes) {
  if (strokes.length > 1) return true;
  const points = strokes[0]?.points ?? [];
  let length = 0;
  for (let i = 1; i < points.length; i++) {
    length += Math.hypot(points[i][0] - points[i - 1][0], points[i][1] - points[i - 1][1]);
    if (length >= SHORT_INK) return true;
  }
  return false;
}
