// The teacher's wall: one tile per student following their live predictions, the spotlight,
// the challenge and the class confusion matrix, and the teacher's controls. Every control is
// checked again by the server; this page only asks.
import { io } from "../vendor/socket.io/socket.io.esm.min.js";

const $ = (id) => document.getElementById(id);
const code = document.body.dataset.code;
const DRAWING_MS = 1500; // a tile updated this recently counts as "drawing now"

const percent = (p) => `${Math.round(p * 100)}%`;

let state = null;                 // the room as the server last described it (wall_state)
const latest = new Map();          // student -> latest wall_update
const updatedAt = new Map();       // student -> when their last update arrived
const tiles = new Map();           // student -> tile element
let answeredSince = new Set();     // students who answered since the challenge opened
let spotlight = null;              // the student in the spotlight
let lastFocus = null;

const socket = io({ reconnectionDelayMax: 4000, timeout: 5000 });

function status(stateName, text) {
  $("status").dataset.state = stateName;
  $("status").textContent = text;
}

function showError(message) {
  const el = $("error");
  el.textContent = message;
  el.hidden = false;
  setTimeout(() => { el.hidden = true; }, 6000);
}

socket.on("connect", () => {
  status("connecting", "joining the class…");
  socket.emit("wall_join", { code }, (answer) => {
    if (!answer?.ok) {
      status("offline", "not the teacher of this class");
      showError(answer?.error?.message || "Could not open the wall.");
      return;
    }
    status("live", "live");
    for (const [student, update] of Object.entries(answer.latest || {})) latest.set(student, update);
    applyState(answer.state);
    for (const student of latest.keys()) renderTile(student);
  });
});
socket.on("disconnect", () => status("offline", "reconnecting…"));
socket.on("wall_state", applyState);
socket.on("wall_updates", (updates) => {
  // Each process sends its students' updates of one moment together.
  for (const update of updates) {
    const { student } = update;
    latest.set(student, update);
    updatedAt.set(student, performance.now());
    if (state?.challenge !== null && state?.challenge !== undefined) answeredSince.add(student);
    renderTile(student);
    if (spotlight === student) renderSpotlight();
  }
  renderChallengeLive();
  renderDrawingCount();
});
socket.on("room_closed", () => {
  $("closed-screen").hidden = false;
  socket.disconnect();
});

function control(action, extra = {}) {
  socket.emit("room_control", { code, action, ...extra }, (answer) => {
    if (!answer?.ok) showError(answer?.error?.message || "The server refused that.");
  });
}

// --- the room ----------------------------------------------------------------------

function applyState(next) {
  const wasOpen = state?.challenge;
  state = next;
  if (next.challenge !== null && next.challenge !== wasOpen) answeredSince = new Set();
  const present = new Set(next.students.map((s) => s.student));
  for (const [student, tile] of tiles) {
    if (!present.has(student)) {
      tile.remove();
      tiles.delete(student);
      if (spotlight === student) closeSpotlight();
    }
  }
  const wall = $("wall");
  next.students.forEach((member, index) => {
    let tile = tiles.get(member.student);
    if (!tile) {
      tile = buildTile(member.student);
      tiles.set(member.student, tile);
    }
    if (wall.children[index] !== tile) wall.insertBefore(tile, wall.children[index] || null); // join order: stable
    renderTile(member.student);
  });
  const count = next.students.length;
  $("student-count").textContent = `${count} student${count === 1 ? "" : "s"}`;
  $("wall-empty").hidden = count > 0;
  setPressed("lock", next.locked, "Locked: no new students", "Lock joining");
  setPressed("names", next.names_hidden, "Show names", "Hide names");
  setPressed("blank", next.blanked, "Show the wall", "Blank wall");
  $("blank-screen").hidden = !next.blanked;
  document.body.classList.toggle("names-hidden", next.names_hidden);
  renderChallenge();
  renderMatrix();
  renderDrawingCount();
  if (spotlight) renderSpotlight();
}

function setPressed(id, on, onText, offText) {
  const button = $(id);
  button.setAttribute("aria-pressed", String(on));
  button.textContent = on ? onText : offText;
}

function member(student) {
  return state?.students.find((s) => s.student === student);
}

function displayName(m) {
  return state?.names_hidden ? `#${m.number}` : m.name;
}

// --- tiles -----------------------------------------------------------------------------

function buildTile(student) {
  const tile = document.createElement("article");
  tile.className = "tile";
  tile.setAttribute("data-testid", "wall-tile");
  tile.setAttribute("role", "listitem");
  tile.dataset.student = student;
  tile.dataset.digit = "";
  tile.innerHTML = `
    <button type="button" class="tile-open" title="Spotlight">
      <img class="tile-input" width="28" height="28" alt="">
      <span class="tile-digit" aria-hidden="true"></span>
      <span class="tile-confidence"></span>
    </button>
    <p class="tile-name"></p>
    <div class="tile-actions">
      <button type="button" class="tile-hide" data-testid="tile-hide"></button>
      <button type="button" class="tile-remove" data-testid="tile-remove">Remove</button>
    </div>`;
  tile.querySelector(".tile-open").addEventListener("click", () => openSpotlight(student));
  tile.querySelector(".tile-hide").addEventListener("click", () => {
    control(member(student)?.hidden ? "show" : "hide", { student });
  });
  tile.querySelector(".tile-remove").addEventListener("click", () => {
    const m = member(student);
    if (m && confirm(`Remove ${m.name} from the class?`)) control("remove", { student });
  });
  return tile;
}

function renderTile(student) {
  const tile = tiles.get(student);
  const m = member(student);
  if (!tile || !m) return;
  const update = latest.get(student);
  const shown = update && !update.blank && update.digit !== null && update.digit !== undefined && !m.hidden;
  tile.dataset.digit = update && !update.blank && update.digit !== null ? String(update.digit) : "";
  tile.dataset.hidden = String(m.hidden);
  tile.classList.toggle("is-hidden", m.hidden);
  tile.classList.toggle("is-drawing", performance.now() - (updatedAt.get(student) || -1e9) < DRAWING_MS);
  tile.classList.toggle("is-unsure", Boolean(update?.unsure));
  const img = tile.querySelector(".tile-input");
  if (shown && update.input28) img.src = update.input28;
  else img.removeAttribute("src");
  tile.querySelector(".tile-digit").textContent = shown ? String(update.digit) : "";
  tile.querySelector(".tile-confidence").textContent = shown ? percent(update.confidence) : (m.hidden ? "hidden" : "");
  tile.querySelector(".tile-name").textContent = displayName(m);
  tile.querySelector(".tile-open").setAttribute("aria-label", m.hidden ? `${displayName(m)}: hidden`
    : `${displayName(m)}: ${shown ? `reads ${update.digit}, ${percent(update.confidence)}` : "nothing yet"}. Spotlight.`);
  tile.querySelector(".tile-hide").textContent = m.hidden ? "Show" : "Hide";
}

function renderDrawingCount() {
  const now = performance.now();
  let drawing = 0;
  for (const [student, at] of updatedAt) {
    const recent = now - at < DRAWING_MS;
    if (recent && tiles.has(student)) drawing++;
    tiles.get(student)?.classList.toggle("is-drawing", recent);
  }
  $("drawing-count").textContent = drawing ? `· ${drawing} drawing now` : "";
}
setInterval(renderDrawingCount, 500);

// --- spotlight -----------------------------------------------------------------------------

function openSpotlight(student) {
  if (member(student)?.hidden) return;
  lastFocus = document.activeElement;
  spotlight = student;
  $("spotlight").hidden = false;
  $("spotlight").dataset.student = student;
  renderSpotlight();
  $("spotlight-close").focus();
}

function closeSpotlight() {
  spotlight = null;
  $("spotlight").hidden = true;
  delete $("spotlight").dataset.student;
  lastFocus?.focus?.();
}

function renderSpotlight() {
  const m = member(spotlight);
  if (!m || m.hidden) {
    closeSpotlight();
    return;
  }
  const update = latest.get(spotlight);
  const shown = update && !update.blank && update.digit !== null && update.digit !== undefined;
  $("spotlight-name").textContent = displayName(m);
  $("spotlight").dataset.digit = shown ? String(update.digit) : "";
  $("spotlight-digit").textContent = shown ? String(update.digit) : "–";
  $("spotlight-confidence").textContent = shown ? `${percent(update.confidence)} sure` : "nothing drawn yet";
  if (shown && update.input28) $("spotlight-input").src = update.input28;
  else $("spotlight-input").removeAttribute("src");
  const bars = $("spotlight-bars");
  bars.replaceChildren(...(shown ? update.top3 || [] : []).map(({ digit, probability }) => {
    const row = document.createElement("div");
    row.className = "bar";
    row.setAttribute("role", "listitem");
    row.dataset.digit = String(digit);
    row.dataset.probability = String(probability);
    row.innerHTML = '<span class="bar-digit"></span><span class="bar-track" aria-hidden="true"><span class="bar-fill"></span></span><span class="bar-value"></span>';
    row.querySelector(".bar-digit").textContent = String(digit);
    row.querySelector(".bar-value").textContent = percent(probability);
    row.querySelector(".bar-fill").style.transform = `scaleX(${probability})`;
    return row;
  }));
}

$("spotlight-close").addEventListener("click", closeSpotlight);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && spotlight) closeSpotlight();
});

// --- challenge and the class matrix --------------------------------------------------------

function renderChallenge() {
  const asked = state.challenge;
  const open = asked !== null && asked !== undefined;
  document.querySelectorAll(".ask").forEach((button) => {
    button.setAttribute("aria-pressed", String(open && Number(button.dataset.digit) === asked));
  });
  $("challenge-close").hidden = !open;
  $("challenge-banner").hidden = !open;
  $("challenge-banner").textContent = open ? `Everyone draw a ${asked}` : "";
  renderChallengeLive();
  const result = state.result;
  $("challenge-result").hidden = open || !result;
  if (!open && result) {
    const total = result.answered;
    $("result-line").textContent = `${result.read_as_asked.length} of ${total} read as ${result.asked}`
      + (result.no_answer.length ? ` · ${result.no_answer.length} did not answer` : "");
    const gallery = $("misread");
    gallery.replaceChildren(...Object.entries(result.misread).map(([student, digit]) => {
      const item = document.createElement("figure");
      item.className = "misread-item";
      item.setAttribute("role", "listitem");
      item.dataset.student = student;
      item.dataset.digit = String(digit);
      const img = document.createElement("img");
      img.width = 28;
      img.height = 28;
      const update = latest.get(student);
      if (update?.input28 && !member(student)?.hidden) img.src = update.input28;
      img.alt = `read as ${digit}`;
      const caption = document.createElement("figcaption");
      const m = member(student);
      caption.textContent = `${m ? displayName(m) : "left"}: read ${digit}`;
      item.append(img, caption);
      return item;
    }));
  }
}

function renderChallengeLive() {
  if (!state) return;
  const asked = state.challenge;
  if (asked === null || asked === undefined) {
    $("challenge-live").textContent = "";
    return;
  }
  let right = 0;
  let answered = 0;
  for (const student of answeredSince) {
    const update = latest.get(student);
    if (!tiles.has(student) || !update || update.blank || update.digit === null) continue;
    answered++;
    if (update.digit === asked) right++;
  }
  $("challenge-live").textContent = `${right} of ${answered} read as ${asked} so far (${state.students.length} students)`;
}

function renderMatrix() {
  const table = $("confusion");
  const caption = table.caption;
  const matrix = state.confusion;
  const largest = Math.max(1, ...matrix.flat());
  const head = document.createElement("tr");
  head.append(document.createElement("th"), ...matrix.map((_, read) => cell("th", String(read), "col")));
  const rows = matrix.map((row, asked) => {
    const tr = document.createElement("tr");
    tr.append(cell("th", String(asked), "row"), ...row.map((count, read) => {
      const td = cell("td", count ? String(count) : "");
      td.dataset.count = String(count);
      td.className = count ? (asked === read ? "hit" : "miss") : "";
      td.dataset.level = String(Math.ceil((count / largest) * 4));
      return td;
    }));
    return tr;
  });
  table.replaceChildren(caption, head, ...rows);
}

function cell(tag, text, scope) {
  const el = document.createElement(tag);
  el.textContent = text;
  if (scope) el.scope = scope;
  return el;
}

document.querySelectorAll(".ask").forEach((button) => {
  button.addEventListener("click", () => control("challenge", { digit: Number(button.dataset.digit) }));
});
$("challenge-close").addEventListener("click", () => control("close_challenge"));
$("reset").addEventListener("click", () => { if (confirm("Clear the class confusion matrix?")) control("reset"); });
$("lock").addEventListener("click", () => control("lock", { value: !state?.locked }));
$("names").addEventListener("click", () => control("names", { value: !state?.names_hidden }));
$("blank").addEventListener("click", () => control("blank", { value: !state?.blanked }));
$("blank-screen").addEventListener("click", () => control("blank", { value: false }));
$("close-room").addEventListener("click", () => {
  if (confirm("End the class? The wall, the students' tiles and the matrix are forgotten (export first).")) control("close");
});

window.wall = { socket, latest, tiles, get state() { return state; } };
