// The drawing pad: pointer input (mouse, touch, pen) into strokes, and their on-screen rendering.
import { MAX_STROKES } from "./snapshot.js";
import { drawStrokes } from "./strokes.js";

const MIN_STEP = 0.002; // pad units; closer points add nothing but bytes and CPU

/**
 * Events (all plain `Event`s on the pad): `strokestart`, `strokeend`, `full` (a stroke refused:
 * MAX_STROKES already drawn), and `change` after anything that alters the ink (drawing, undo,
 * clear). `version` counts those changes so callers can tell whether the ink moved on since
 * they last looked.
 *
 * Pointer input is taken on `zone`, an area a little larger than the canvas: a stroke begun
 * just outside the pad starts where the pointer enters it, as a hand sweeping in expects.
 */
export class Pad extends EventTarget {
  constructor(canvas, zone = canvas) {
    super();
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.strokes = [];
    this.cleared = null;     // the strokes of the last clear, until new ink is drawn: undo brings them back
    this.current = null;
    this.pointerId = null;
    this.version = 0;
    this.rect = null;
    this.frame = 0;
    this.refreshColors();

    zone.addEventListener("pointerdown", (e) => this.onDown(e, zone));
    zone.addEventListener("pointermove", (e) => this.onMove(e));
    zone.addEventListener("pointerup", (e) => this.onUp(e));
    zone.addEventListener("pointercancel", (e) => this.onUp(e));
    zone.addEventListener("lostpointercapture", (e) => this.onUp(e));
    // Safari still scrolls on touchmove unless it is cancelled; touch-action covers the rest.
    zone.addEventListener("touchmove", (e) => e.preventDefault(), { passive: false });
    canvas.addEventListener("contextmenu", (e) => e.preventDefault());

    new ResizeObserver(() => this.resize()).observe(canvas);
    this.watchPixelRatio();
    this.resize();
  }

  get isEmpty() {
    return this.strokes.length === 0;
  }

  get drawing() {
    return this.current !== null;
  }

  /** The pad's side in CSS pixels: the unit of the strokes sent to the server. */
  get side() {
    return Math.max(1, Math.round(this.canvas.clientWidth));
  }

  get canUndo() {
    return !this.drawing && (!this.isEmpty || this.cleared !== null);
  }

  /** Pick up the theme's pad colours (light/dark/projector) and redraw. */
  refreshColors() {
    const style = getComputedStyle(this.canvas);
    this.background = style.getPropertyValue("--pad-bg").trim() || "#fff";
    this.ink = style.getPropertyValue("--pad-ink").trim() || "#000";
    this.requestRender();
  }

  /** Take back the last stroke; on an empty pad, bring back the drawing the last clear removed. */
  undo() {
    if (!this.canUndo) return;
    if (this.isEmpty) {
      this.strokes = this.cleared;
      this.cleared = null;
    } else {
      this.strokes.pop();
    }
    this.changed();
  }

  clear() {
    if (!this.isEmpty) this.cleared = this.strokes;
    this.strokes = [];
    this.current = null;
    this.pointerId = null;
    this.changed();
  }

  // --- input ------------------------------------------------------------------

  onDown(e, zone) {
    // One stroke at a time: a second finger or a palm must not start another.
    if (this.pointerId !== null) return;
    if (e.pointerType === "mouse" && e.button !== 0) return;
    e.preventDefault();
    zone.setPointerCapture?.(e.pointerId);
    // Focus for the keyboard shortcuts, without the keyboard focus ring a click should not show.
    this.canvas.focus({ preventScroll: true, focusVisible: false });
    this.pointerId = e.pointerId;
    this.rect = this.canvas.getBoundingClientRect();
    this.begin(e);
  }

  /** Start the stroke if the pointer is over the pad (pressed outside it, it waits to enter). */
  begin(e) {
    const { left, top, width, height } = this.rect;
    if (e.clientX < left || e.clientX > left + width || e.clientY < top || e.clientY > top + height) return;
    if (this.strokes.length >= MAX_STROKES) {
      this.pointerId = null;
      this.dispatchEvent(new Event("full"));
      return;
    }
    this.cleared = null; // new ink: the cleared drawing is gone for good
    this.current = { points: [this.toPad(e)] };
    this.strokes.push(this.current);
    this.dispatchEvent(new Event("strokestart"));
    this.changed();
  }

  onMove(e) {
    if (e.pointerId !== this.pointerId) return;
    if (!this.current) {
      this.begin(e);
      return;
    }
    const points = this.current.points;
    // Coalesced events keep fast strokes smooth when the browser batches moves per frame.
    const events = e.getCoalescedEvents?.() ?? [];
    let added = false;
    for (const event of events.length ? events : [e]) {
      const p = this.toPad(event);
      const last = points[points.length - 1];
      if (Math.hypot(p[0] - last[0], p[1] - last[1]) >= MIN_STEP) {
        points.push(p);
        added = true;
      }
    }
    if (added) this.changed();
  }

  onUp(e) {
    if (e.pointerId !== this.pointerId) return;
    const started = this.current !== null;
    if (e.type === "pointerup" && started) this.onMove(e);
    this.current = null;
    this.pointerId = null;
    if (started) this.dispatchEvent(new Event("strokeend"));
  }

  toPad(e) {
    const r = this.rect;
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return [clamp((e.clientX - r.left) / r.width), clamp((e.clientY - r.top) / r.width)];
  }

  changed() {
    this.version += 1;
    // While drawing, one render per frame is plenty; a clear or undo shows at once, so the
    // pad is never seen (or read back) a frame behind the strokes.
    if (this.drawing) this.requestRender();
    else this.renderNow();
    this.dispatchEvent(new Event("change"));
  }

  // --- rendering ----------------------------------------------------------------

  resize() {
    // Backing store in device pixels so strokes stay crisp on high-DPI screens.
    const side = Math.round(this.canvas.clientWidth * (window.devicePixelRatio || 1));
    if (side > 0 && (this.canvas.width !== side || this.canvas.height !== side)) {
      this.canvas.width = side;
      this.canvas.height = side;
    }
    this.render();
  }

  watchPixelRatio() {
    // Moving the window to another screen or zooming changes the ratio without a resize.
    const query = matchMedia(`(resolution: ${window.devicePixelRatio || 1}dppx)`);
    query.addEventListener("change", () => {
      this.resize();
      this.watchPixelRatio();
    }, { once: true });
  }

  requestRender() {
    if (!this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.render();
      });
    }
  }

  renderNow() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.render();
  }

  render() {
    const { ctx, canvas } = this;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = this.background;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.setTransform(canvas.width, 0, 0, canvas.height, 0, 0);
    drawStrokes(ctx, this.strokes, this.ink);
  }
}
