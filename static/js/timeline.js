// The drawing as it unfolded: each leading digit's probability over the frames of the current
// drawing, as an SVG sparkline per digit, a one-line summary, and a replay (button or slider)
// that steps through the frames with the 28x28 the network saw at each.
import { percent } from "./reading.js";

const WIDTH = 300;
const HEIGHT = 90;
const MAX_FRAMES = 240;   // a longer drawing keeps every other frame: the shape of the story stays
const MAX_LINES = 4;
const SAME = 1e-4;        // probabilities closer than this are the same reading (one model, other batch)
const LABEL_GAP = 14;     // SVG units between two end labels
const STEADY = 2;         // a reading must hold this many frames to count as a stage of the story
const REPLAY_MS = 90;
// Okabe-Ito colours: told apart with every common colour-vision type, and each line is labelled.
const COLOURS = ["#E69F00", "#56B4E9", "#009E73", "#D55E00"];

/** Stages of the reading: top digits in order, brief flickers left out (the last always counts). */
export function storyOf(tops) {
  const runs = [];
  for (const digit of tops) {
    const last = runs[runs.length - 1];
    if (last && last.digit === digit) last.count += 1;
    else runs.push({ digit, count: 1 });
  }
  const stages = [];
  runs.forEach((run, i) => {
    if (run.count < STEADY && i !== runs.length - 1) return;
    if (stages[stages.length - 1] !== run.digit) stages.push(run.digit);
  });
  return stages;
}

export function summaryOf(tops) {
  if (!tops.length) return "";
  const stages = storyOf(tops);
  const frames = `${tops.length} frame${tops.length === 1 ? "" : "s"}`;
  if (stages.length === 1) return `Read as a ${stages[0]} all along (${frames}).`;
  const earlier = stages.slice(0, -1).map((d) => `a ${d}`).join(", then ");
  return `Looked like ${earlier}, became a ${stages[stages.length - 1]} (${frames}).`;
}

/** Label baselines moved apart (at least LABEL_GAP) so that lines ending together keep readable labels. */
export function spreadLabels(wanted, top = 12, bottom = HEIGHT - 2) {
  const order = wanted.map((v, i) => [v, i]).sort((a, b) => a[0] - b[0]);
  const placed = new Array(wanted.length);
  let next = top;
  for (const [v, i] of order) {
    placed[i] = Math.max(v, next);
    next = placed[i] + LABEL_GAP;
  }
  // Pushed past the bottom: shift the lowest ones back up, keeping the gaps.
  let limit = bottom;
  for (const [, i] of order.reverse()) {
    placed[i] = Math.min(placed[i], limit);
    limit = placed[i] - LABEL_GAP;
  }
  return placed;
}

export class Timeline {
  constructor(root = document) {
    const $ = (id) => root.getElementById(id);
    this.element = $("timeline");
    this.svg = $("timeline-chart");
    this.summary = $("timeline-summary");
    this.replayButton = $("timeline-replay");
    this.scrub = $("timeline-scrub");
    this.frameImage = $("timeline-frame");
    this.readout = $("timeline-readout");
    this.frames = [];
    this.timer = 0;
    this.replayButton.addEventListener("click", () => this.replay());
    this.scrub.addEventListener("input", () => this.showFrame(Number(this.scrub.value), false));
    this.clear();
  }

  /** A new element in the chart's own (SVG) namespace. */
  make(tag) {
    return document.createElementNS(this.svg.namespaceURI, tag);
  }

  add(payload) {
    const probabilities = payload.probabilities || [];
    const last = this.frames[this.frames.length - 1];
    // The explained answer repeats the final frame's reading: one frame, not two.
    if (last && last.probabilities.every((p, d) => Math.abs(p - (probabilities[d] ?? 0)) < SAME)) return;
    this.stop();
    this.frames.push({ probabilities, digit: payload.digit, input28: payload.input28 });
    if (this.frames.length > MAX_FRAMES) this.frames = this.frames.filter((_, i) => i % 2 === 0);
    this.render();
  }

  /** The drawing is finished for now: the replay controls become useful. */
  finish() {
    this.replayButton.disabled = this.frames.length < 2;
    this.scrub.disabled = this.frames.length < 2;
  }

  clear() {
    this.stop();
    this.frames = [];
    this.svg.replaceChildren();
    this.summary.textContent = "Draw a digit: its reading, frame by frame, shows here.";
    this.svg.setAttribute("aria-label", "No drawing yet");
    this.element.dataset.frames = "0";
    this.replayButton.disabled = true;
    this.scrub.disabled = true;
    this.scrub.max = "0";
    this.scrub.value = "0";
    this.frameImage.removeAttribute("src");
    this.readout.textContent = "";
  }

  digitsToDraw() {
    const lastFrame = this.frames[this.frames.length - 1];
    const wanted = new Set(this.frames.map((f) => f.digit));
    const ranked = lastFrame.probabilities.map((p, d) => [p, d]).sort((a, b) => b[0] - a[0]);
    if (ranked.length > 1) wanted.add(ranked[1][1]); // the final runner-up, which the evidence argues against
    return [...wanted]
      .sort((a, b) => lastFrame.probabilities[b] - lastFrame.probabilities[a])
      .slice(0, MAX_LINES);
  }

  render() {
    const count = this.frames.length;
    this.element.dataset.frames = String(count);
    this.scrub.max = String(count - 1);
    this.scrub.value = String(count - 1);
    const x = (i) => (count === 1 ? WIDTH - 30 : (i / (count - 1)) * (WIDTH - 30));
    const y = (p) => 4 + (1 - p) * (HEIGHT - 8);
    const nodes = [];
    for (const level of [0, 0.5, 1]) {
      const line = this.make("line");
      line.setAttribute("class", "timeline-grid");
      line.setAttribute("x1", "0");
      line.setAttribute("x2", String(WIDTH - 30));
      line.setAttribute("y1", String(y(level)));
      line.setAttribute("y2", String(y(level)));
      nodes.push(line);
    }
    const digits = this.digitsToDraw();
    const labelY = spreadLabels(digits.map((d) => y(this.frames[count - 1].probabilities[d] ?? 0) + 5));
    digits.forEach((digit, rank) => {
      const colour = COLOURS[rank % COLOURS.length];
      const points = this.frames.map((f, i) => `${x(i).toFixed(1)},${y(f.probabilities[digit] ?? 0).toFixed(1)}`);
      const path = this.make("polyline");
      path.setAttribute("points", points.join(" "));
      path.setAttribute("class", "timeline-line");
      path.setAttribute("stroke", colour);
      path.dataset.digit = String(digit);
      const label = this.make("text");
      label.setAttribute("x", String(WIDTH - 24));
      label.setAttribute("y", String(labelY[rank]));
      label.setAttribute("fill", colour);
      label.setAttribute("class", "timeline-label");
      label.textContent = String(digit);
      nodes.push(path, label);
    });
    this.cursor = this.make("line");
    this.cursor.setAttribute("class", "timeline-cursor");
    this.cursor.setAttribute("y1", "0");
    this.cursor.setAttribute("y2", String(HEIGHT));
    this.cursor.style.display = "none";
    this.xOf = x;
    nodes.push(this.cursor);
    this.svg.replaceChildren(...nodes);
    const text = summaryOf(this.frames.map((f) => f.digit));
    this.summary.textContent = text;
    this.svg.setAttribute("aria-label", `Probability of each leading digit over the drawing's frames. ${text}`);
  }

  showFrame(index, moveSlider = true) {
    const frame = this.frames[index];
    if (!frame) return;
    if (moveSlider) this.scrub.value = String(index);
    this.cursor.style.display = "";
    this.cursor.setAttribute("x1", String(this.xOf(index)));
    this.cursor.setAttribute("x2", String(this.xOf(index)));
    if (frame.input28) this.frameImage.src = frame.input28;
    const p = frame.probabilities[frame.digit] ?? 0;
    this.readout.textContent = `Frame ${index + 1} of ${this.frames.length}: ${frame.digit} (${percent(p)})`;
    this.scrub.setAttribute("aria-valuetext", this.readout.textContent);
  }

  replay() {
    this.stop();
    let index = 0;
    const step = () => {
      this.showFrame(index);
      index += 1;
      if (index >= this.frames.length) this.stop();
    };
    step();
    this.timer = setInterval(step, REPLAY_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = 0;
  }
}
