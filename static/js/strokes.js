// Strokes are kept as point lists in pad units (0..1 of the pad's side), so the same
// data can be drawn at any size: on screen at device resolution, or small for the model.

// About 1/16 of the pad: the stroke-to-digit ratio of MNIST's pen strokes.
export const STROKE_WIDTH = 1 / 16;

/** Draw every stroke with round caps and quadratic smoothing through the midpoints. */
export function drawStrokes(ctx, strokes, ink) {
  ctx.save();
  ctx.strokeStyle = ink;
  ctx.fillStyle = ink;
  ctx.lineWidth = STROKE_WIDTH;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const stroke of strokes) traceStroke(ctx, stroke.points);
  ctx.restore();
}

function traceStroke(ctx, pts) {
  if (pts.length === 0) return;
  if (pts.length === 1) {
    // A tap is a dot; zero-length paths are not stroked by every browser.
    ctx.beginPath();
    ctx.arc(pts[0][0], pts[0][1], STROKE_WIDTH / 2, 0, Math.PI * 2);
    ctx.fill();
    return;
  }
  ctx.beginPath();
  ctx.moveTo(pts[0][0], pts[0][1]);
  for (let i = 1; i < pts.length - 1; i++) {
    const [x, y] = pts[i];
    const [nx, ny] = pts[i + 1];
    ctx.quadraticCurveTo(x, y, (x + nx) / 2, (y + ny) / 2);
  }
  const last = pts[pts.length - 1];
  ctx.lineTo(last[0], last[1]);
  ctx.stroke();
}

/** Bounding box of the ink, stroke width included, or null when there is none. */
export function inkBounds(strokes) {
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const { points } of strokes) {
    for (const [x, y] of points) {
      if (x < minX) minX = x;
      if (y < minY) minY = y;
      if (x > maxX) maxX = x;
      if (y > maxY) maxY = y;
    }
  }
  if (minX === Infinity) return null;
  const half = STROKE_WIDTH / 2;
  return { x: minX - half, y: minY - half, w: maxX - minX + STROKE_WIDTH, h: maxY - minY + STROKE_WIDTH };
}
