// The frame sent to the model: the ink alone, cropped and small, black on opaque white.
// Opaque and theme-independent so the server never has to guess the polarity, and
// small (long side 128 px) so a frame is a few kilobytes even over a classroom's Wi-Fi.
import { STROKE_WIDTH, drawStrokes, inkBounds } from "./strokes.js";

const LONG_SIDE = 128;
const MARGIN = STROKE_WIDTH; // pad units of white around the ink, like MNIST's padding

let canvas = null;

/** PNG Blob of the strokes, or null when there is no ink. */
export function snapshotPng(strokes) {
  const box = inkBounds(strokes);
  if (!box) return Promise.resolve(null);
  const x0 = box.x - MARGIN;
  const y0 = box.y - MARGIN;
  const w = box.w + 2 * MARGIN;
  const h = box.h + 2 * MARGIN;
  // One scale for both axes and the pen, so the stroke-to-digit ratio is kept.
  const scale = LONG_SIDE / Math.max(w, h);
  canvas ??= document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(w * scale));
  canvas.height = Math.max(1, Math.round(h * scale));
  const ctx = canvas.getContext("2d");
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.setTransform(scale, 0, 0, scale, -x0 * scale, -y0 * scale);
  drawStrokes(ctx, strokes, "#000000");
  // Drawing is synchronous, so the picture is of the strokes as they are now even
  // though the encoding finishes later.
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}
