// Wiring: the pad, the live predictions, the view, uploads, and the page's own controls.
import { getModel } from "./api.js";
import { Lens } from "./lens.js";
import { Live } from "./live.js";
import { Pad } from "./pad.js";
import { setupUpload } from "./upload.js";
import { View } from "./view.js";

const $ = (id) => document.getElementById(id);
const root = document.documentElement;

const pad = new Pad($("pad"), $("pad-zone"));
const view = new View();
const lens = new Lens(); // the teaching lens: evidence, plain resize, timeline, layers
const statusEl = $("status");
const errorEl = $("error");
const preview = $("upload-preview");
const stage = $("stage");
const undoButton = $("undo");
let errorTimer = 0;

const live = new Live(pad, {
  onPrediction(payload, { final, repeat }) {
    hideError();
    const reading = view.show(payload, { final });
    lens.show(payload, { final });
    // Marks an answer to the finished ink (tests wait for it; styles could use it).
    view.digit.dataset.final = String(final);
    // Announce finished drawings and uploads only: a screen reader cannot keep up with frames.
    if (final && !repeat) view.announce(reading.spoken);
  },
  onError: showError,
  onStatus(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  },
  onSocket(socket) {
    // A student's page (/join/<CODE>) also joins its class room on this socket.
    if (document.body.dataset.room) import("./classroom.js").then((m) => m.joinClass(socket, document.body.dataset));
  },
}, { room: Boolean(document.body.dataset.room) });

function showError(message) {
  errorEl.textContent = message;
  errorEl.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(hideError, 8000);
}

function hideError() {
  errorEl.hidden = true;
  errorEl.textContent = "";
}

// A file the browser cannot show (the server will say why) leaves no broken-image icon.
preview.addEventListener("error", () => {
  hidePreview();
  stage.classList.toggle("has-ink", !pad.isEmpty);
});

function hidePreview() {
  if (preview.hidden) return;
  preview.hidden = true;
  URL.revokeObjectURL(preview.src);
  preview.removeAttribute("src");
}

// --- drawing -------------------------------------------------------------------

pad.addEventListener("strokestart", () => {
  if (!preview.hidden) {
    hidePreview();
    live.reset(); // an upload's late answer must not land on the new drawing
  }
});
pad.addEventListener("change", () => {
  delete view.digit.dataset.final; // what is shown no longer answers the ink as it now is
  undoButton.disabled = !pad.canUndo;
  if (!pad.isEmpty) hidePreview(); // e.g. an undo brought back the drawing an upload replaced
  stage.classList.toggle("has-ink", !pad.isEmpty || !preview.hidden);
  if (pad.isEmpty) {
    view.clear();
    lens.clear();
    live.reset();
  } else {
    live.pump();
  }
});
pad.addEventListener("strokeend", () => {
  undoButton.disabled = !pad.canUndo;
  live.pump(); // the final frame, or the offline POST
});
pad.addEventListener("full", () => showError("That is a lot of strokes: clear the pad and draw one digit."));

function clearAll() {
  hidePreview();
  hideError();
  pad.clear(); // kept by the pad: Undo brings the drawing back
  stage.classList.remove("has-ink");
  view.clear();
  lens.clear();
  live.reset();
}

$("clear").addEventListener("click", clearAll);
undoButton.addEventListener("click", () => pad.undo());

document.addEventListener("keydown", (e) => {
  const target = e.target;
  if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target?.isContentEditable) return;
  const mod = e.ctrlKey || e.metaKey;
  if (mod && !e.shiftKey && !e.altKey && e.key.toLowerCase() === "z") {
    e.preventDefault();
    pad.undo();
    return;
  }
  // Single keys act only on the pad: elsewhere they belong to the focused control (or a screen reader).
  if (target !== pad.canvas || mod || e.altKey) return;
  if (["Escape", "Delete", "Backspace", "c", "C"].includes(e.key)) {
    e.preventDefault();
    clearAll();
  }
});

// --- uploads --------------------------------------------------------------------

setupUpload({
  input: $("upload"),
  dropTarget: document,
  async onFile(file) {
    hideError();
    // The drawing stays until the server has read the picture: a refused file must not cost it.
    await live.predictFile(file, () => {
      pad.clear(); // Undo brings the drawing back
      hidePreview();
      preview.src = URL.createObjectURL(file);
      preview.alt = `Uploaded picture ${file.name || ""}`.trim();
      preview.hidden = false;
      stage.classList.add("has-ink");
      lens.clear();
    });
  },
});

// --- projector mode, fullscreen, theme -----------------------------------------------

const projectorButton = $("projector-toggle");
function setProjector(on) {
  root.classList.toggle("projector", on);
  document.body.classList.toggle("projector", on); // either element is a fine hook for styles and tests
  projectorButton.setAttribute("aria-pressed", String(on));
  const url = new URL(location.href);
  if (on) url.searchParams.set("projector", "1");
  else url.searchParams.delete("projector");
  history.replaceState(null, "", url); // a reload or a shared link keeps the mode
  pad.refreshColors();
}
const wanted = new URLSearchParams(location.search).get("projector");
setProjector(wanted !== null && wanted !== "0" && wanted !== "false");
projectorButton.addEventListener("click", () => setProjector(!root.classList.contains("projector")));

// In projector mode the drawing and its answer fill the screen; the lens is shown below on request.
const lensButton = $("lens-toggle");
lensButton.addEventListener("click", () => {
  const on = !root.classList.contains("show-lens");
  root.classList.toggle("show-lens", on);
  lensButton.setAttribute("aria-pressed", String(on));
  if (on) $("lens").scrollIntoView({ block: "start" });
  else window.scrollTo(0, 0);
});

const fullscreenButton = $("fullscreen-toggle");
if (document.fullscreenEnabled) {
  fullscreenButton.hidden = false;
  fullscreenButton.addEventListener("click", () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else root.requestFullscreen().catch((err) => showError(`Fullscreen is not available: ${err.message}`));
  });
  document.addEventListener("fullscreenchange", () => {
    const on = Boolean(document.fullscreenElement);
    fullscreenButton.textContent = on ? "Exit fullscreen" : "Fullscreen";
    fullscreenButton.setAttribute("aria-pressed", String(on));
  });
}

matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => pad.refreshColors());

// --- footer: which model is answering ---------------------------------------------

getModel().then((model) => {
  const parts = [`Model: ${model.name}`];
  if (Number.isFinite(model.params)) parts.push(`${model.params.toLocaleString("en")} parameters`);
  const accuracy = Number(model.test_accuracy);
  if (model.test_accuracy !== null && Number.isFinite(accuracy)) {
    parts.push(`test accuracy ${(accuracy <= 1 ? accuracy * 100 : accuracy).toFixed(2)}%`);
  }
  $("model-info").textContent = parts.join(" · ");
}).catch(() => { /* the server-rendered line stays */ });

// For debugging from the console and for tests; not used by the page itself.
window.digits = { pad, live, view, lens };
