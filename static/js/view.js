// Showing a prediction: the big digit, the top-3 bars, all ten, and the 28x28 model input.
import { percent, readingOf } from "./reading.js";

export class View {
  constructor(root = document) {
    const $ = (id) => root.getElementById(id);
    this.digit = $("prediction");
    this.confidence = $("confidence");
    this.bars = $("bars");
    this.modelInput = $("model-input");
    this.allTen = $("all-ten-list");
    this.timing = $("timing");
    this.announcer = $("announcer");
    this.tenRows = this.buildAllTen();
    this.clear();
  }

  /** Show an answer; `final` when it answers the finished ink (else it is marked as provisional). */
  show(payload, { final }) {
    const reading = readingOf(payload, { final });
    if (reading.kind === "blank") {
      this.clear();
      this.confidence.textContent = final ? reading.note : "";
      return reading;
    }
    this.digit.textContent = reading.digit;
    this.digit.dataset.reading = reading.kind;
    this.confidence.textContent = reading.note;
    this.updateBars(payload.top3 || []);
    this.updateAllTen(payload.probabilities || [], payload.digit);
    if (payload.input28) this.modelInput.src = payload.input28;
    this.modelInput.classList.remove("is-empty");
    const ms = Number(payload.inference_ms);
    this.timing.textContent = Number.isFinite(ms) ? `model time ${ms.toFixed(1)} ms` : "";
    return reading;
  }

  clear() {
    this.digit.textContent = "";
    delete this.digit.dataset.final;
    this.digit.dataset.reading = "blank";
    this.confidence.textContent = "";
    this.bars.replaceChildren();
    this.updateAllTen([], null);
    this.modelInput.removeAttribute("src");
    this.modelInput.classList.add("is-empty");
    this.timing.textContent = "";
  }

  /** Say a reading through the polite live region (only for finished drawings). */
  announce(text) {
    if (!text) return;
    // Re-setting the same text would not be announced again; clearing first makes it new.
    this.announcer.textContent = "";
    requestAnimationFrame(() => { this.announcer.textContent = text; });
  }

  updateBars(top3) {
    // Rows are kept and only their values change, so widths glide rather than jump.
    while (this.bars.children.length > top3.length) this.bars.lastElementChild.remove();
    while (this.bars.children.length < top3.length) this.bars.append(this.buildBar());
    top3.forEach(({ digit, probability }, rank) => {
      const row = this.bars.children[rank];
      row.dataset.digit = String(digit);
      row.dataset.probability = String(probability);
      row.querySelector(".bar-digit").textContent = String(digit);
      row.querySelector(".bar-value").textContent = percent(probability);
      const fill = row.querySelector(".bar-fill");
      // A new row starts empty and grows on the next frame, so it animates in too.
      requestAnimationFrame(() => { fill.style.transform = `scaleX(${Math.max(0, Math.min(1, probability))})`; });
    });
  }

  buildBar() {
    const row = document.createElement("div");
    row.className = "bar";
    row.setAttribute("role", "listitem");
    const label = document.createElement("span");
    label.className = "bar-digit";
    const track = document.createElement("span");
    track.className = "bar-track";
    track.setAttribute("aria-hidden", "true");
    const fill = document.createElement("span");
    fill.className = "bar-fill";
    fill.style.transform = "scaleX(0)";
    track.append(fill);
    const value = document.createElement("span");
    value.className = "bar-value";
    row.append(label, track, value);
    return row;
  }

  buildAllTen() {
    const rows = [];
    for (let d = 0; d < 10; d++) {
      const li = document.createElement("li");
      li.className = "ten";
      li.dataset.value = String(d);
      const label = document.createElement("span");
      label.className = "ten-digit";
      label.textContent = String(d);
      const track = document.createElement("span");
      track.className = "ten-track";
      track.setAttribute("aria-hidden", "true");
      const fill = document.createElement("span");
      fill.className = "ten-fill";
      track.append(fill);
      const value = document.createElement("span");
      value.className = "ten-value";
      li.append(label, track, value);
      this.allTen.append(li);
      rows.push({ li, fill, value });
    }
    return rows;
  }

  updateAllTen(probabilities, top) {
    this.tenRows.forEach(({ li, fill, value }, d) => {
      const p = probabilities[d];
      const known = Number.isFinite(p);
      fill.style.transform = `scaleX(${known ? p : 0})`;
      value.textContent = known ? percent(p) : "–";
      li.classList.toggle("is-top", d === top);
    });
  }
}
