// The teaching lens: why this digit rather than the runner-up, what a plain resize would have
// seen, the drawing as it unfolded, and a look inside the network. Fed by the page's answers
// (main.js calls show/clear); the evidence and the plain-resize view come with the answers to
// finished drawings (`explain`), the layers from POST /api/layers when their panel is open.
import { postLayers } from "./api.js";
import { percent } from "./reading.js"; // never "100%" or "0%": the page's one way to say a probability
import { Timeline } from "./timeline.js";

const SMALL_SHARE = 0.05; // evidence for the runner-up below this is not worth a sentence

export class Lens {
  constructor(root = document) {
    const $ = (id) => root.getElementById(id);
    this.evidence = $("evidence");
    this.evidenceInput = $("evidence-input");
    this.evidenceMap = $("evidence-map");
    this.evidenceText = $("evidence-text");
    this.legendDigit = $("legend-digit");
    this.legendVersus = $("legend-versus");
    this.naive = $("naive");
    this.naiveInput = $("naive-input");
    this.naivePrediction = $("naive-prediction");
    this.naiveText = $("naive-text");
    this.layers = $("layers");
    this.layersBody = $("layers-body");
    this.timeline = new Timeline(root);
    this.input28 = null;       // the model input of the newest finished answer
    this.layersFor = null;     // the input28 the layers on screen (or on their way) belong to
    this.layers.addEventListener("toggle", () => { if (this.layers.open) this.refreshLayers(); });
    this.clear();
  }

  /** An answer arrived: every frame feeds the timeline; finished ones the other views. */
  show(payload, { final }) {
    if (payload.blank || payload.digit === null || payload.digit === undefined) return;
    this.timeline.add(payload);
    if (!final) {
      this.evidence.dataset.state = this.evidence.dataset.state === "empty" ? "empty" : "stale";
      return;
    }
    this.input28 = payload.input28 || null;
    if (payload.evidence) this.showEvidence(payload);
    if (payload.naive) this.showNaive(payload.naive, payload.digit);
    this.timeline.finish();
    if (this.layers.open) this.refreshLayers();
  }

  clear() {
    this.input28 = null;
    this.evidence.dataset.state = "empty";
    delete this.evidence.dataset.digit;
    delete this.evidence.dataset.versus;
    this.evidenceInput.removeAttribute("src");
    this.evidenceMap.removeAttribute("src");
    this.evidenceMap.alt = "";
    this.evidenceText.textContent = "Lift the pen (or upload a picture) to see which strokes decided the answer.";
    this.legendDigit.textContent = "the answer";
    this.legendVersus.textContent = "the runner-up";
    this.naive.dataset.state = "empty";
    this.naiveInput.removeAttribute("src");
    this.naiveInput.alt = "No drawing yet";
    this.naivePrediction.textContent = "";
    this.naiveText.textContent = "";
    this.timeline.clear();
    this.layersFor = null;
    this.layersBody.replaceChildren(note("Draw a digit, then open this panel to see what each layer picks out."));
  }

  showEvidence(payload) {
    const { digit, versus, map, scale = {}, where = {} } = payload.evidence;
    this.evidence.dataset.state = "ready";
    this.evidence.dataset.digit = String(digit);
    this.evidence.dataset.versus = String(versus);
    this.evidenceInput.src = payload.input28;
    this.evidenceMap.src = map;
    this.legendDigit.textContent = String(digit);
    this.legendVersus.textContent = String(versus);
    const against = (scale.for_versus ?? 0) >= SMALL_SHARE;
    this.evidenceText.textContent = `The orange strokes made it say ${digit} rather than ${versus}`
      + (against ? `; the blue ones pointed to ${versus}.` : ".");
    const place = (side) => (where[side] ? `, mostly in the ${where[side]}` : "");
    this.evidenceMap.alt = `Evidence map over the network's 28 by 28 input: orange ink made it say ${digit}`
      + ` rather than ${versus}${place("for_digit")}`
      + (against ? `; blue ink, ${percent(scale.for_versus)} of the evidence, pointed to ${versus}`
        + `${place("for_versus")}.` : `; almost nothing pointed to ${versus}.`);
  }

  showNaive(naive, ours) {
    this.naive.dataset.state = naive.digit === ours ? "agrees" : "differs";
    this.naiveInput.src = naive.input28;
    this.naiveInput.alt = "The 28 by 28 picture a plain resize and invert makes of the same drawing";
    this.naivePrediction.textContent = String(naive.digit);
    this.naiveText.textContent = naive.digit === ours
      ? `${percent(naive.confidence)} sure: the same answer as ours, this time.`
      : `${percent(naive.confidence)} sure, where our preparation reads ${ours}.`;
  }

  async refreshLayers() {
    const input28 = this.input28;
    if (!input28) {
      this.layersBody.replaceChildren(note("Draw a digit first: the maps are of the current drawing."));
      return;
    }
    if (input28 === this.layersFor) return;
    this.layersFor = input28;
    this.layersBody.setAttribute("aria-busy", "true");
    const result = await postLayers(input28);
    if (this.layersFor !== input28) return; // a newer drawing asked meanwhile
    this.layersBody.removeAttribute("aria-busy");
    if (!result.ok) {
      this.layersFor = null;
      this.layersBody.replaceChildren(note(`Could not look inside: ${result.message}`));
      return;
    }
    this.layersBody.replaceChildren(...result.payload.layers.map(layerFigure));
  }
}

function note(text) {
  const p = document.createElement("p");
  p.className = "lens-note";
  p.textContent = text;
  return p;
}

function layerFigure(layer, index) {
  const figure = document.createElement("figure");
  figure.className = "layer";
  const [height, width] = layer.size;
  const caption = document.createElement("figcaption");
  const title = document.createElement("strong");
  title.textContent = `Layer ${index + 1} · ${layer.stage}`;
  caption.append(title, ` — ${layer.note}. ${layer.shown} of its ${layer.channels} maps, `
    + `each ${width}×${height}, the most active first.`);
  const img = document.createElement("img");
  img.className = "layer-maps";
  img.src = layer.image;
  img.alt = `Layer ${index + 1} (${layer.stage}): ${layer.shown} feature maps of ${width} by ${height} pixels; `
    + "bright where the layer responds to the drawing.";
  // One map per grid cell whatever the layer's resolution: coarse layers show their coarseness.
  img.style.aspectRatio = `${layer.columns * (width + 1) - 1} / ${layer.rows * (height + 1) - 1}`;
  figure.append(caption, img);
  return figure;
}
