// Getting predictions for the pad: Socket.IO while connected, POST /api/predict when not.
//
// Throttling is on the client too: at most one frame in flight, and the newest ink waits
// for the answer (or ANSWER_TIMEOUT_MS) instead of queueing; so a slow server or network
// costs latency, never a growing backlog. Every request gets a `seq` from one counter,
// so answers from the socket, the fallback and uploads can be ordered against each other.
//
// In a class room the teacher's wall shows what the socket answers: there an upload goes over
// the socket too (HTTP when it is down), and an emptied pad sends a blank frame to empty the tile.
import { postImage, postStrokes } from "./api.js";
import { enoughInk, strokesPayload } from "./snapshot.js";

const ANSWER_TIMEOUT_MS = 1000;
// The server's MAX_FRAME_BYTES for a snapshot's image; a larger upload goes by HTTP (the wall does not see it).
const MAX_SOCKET_PICTURE = 1024 * 1024;
const CLIENT_URL = new URL("../vendor/socket.io/socket.io.esm.min.js", import.meta.url);
// Words a student understands, saying what still works. "live" only when it is.
export const STATUS_TEXT = {
  connecting: "Connecting…",
  live: "Connected – live answers as you draw",
  offline: "Working offline – answers come after each stroke; reconnecting…",
};

export class Live {
  /**
   * @param pad       the Pad whose ink is predicted
   * @param handlers  onPrediction(payload, {final, source, repeat}), onError(message),
   *                  onStatus(state, text) with state "connecting" | "live" | "offline",
   *                  onSocket(socket) once the Socket.IO client exists (optional)
   * @param room      true on a class room's student page
   */
  constructor(pad, handlers, { room = false } = {}) {
    this.pad = pad;
    this.handlers = handlers;
    this.room = room;
    this.onWall = false;     // the wall may show an answer to ink or a picture that is gone since
    this.upload = null;      // {seq, resolve} of an upload asked over the socket
    this.seq = 0;            // last seq handed out
    this.shownSeq = 0;       // newest answer shown: older ones are stale
    this.discardBelow = 0;   // answers to requests made before a clear are dropped
    this.sentVersion = -1;   // pad.version of the newest frame sent
    this.explainedVersion = -1; // pad.version of the newest frame sent with `explain` (the lens)
    this.versions = new Map(); // seq -> pad.version it pictured
    this.shown = null;       // {payload, version, final, source} of the answer on screen
    this.busy = false;       // a frame is being encoded or is in flight
    this.inFlightSeq = null;
    this.timer = 0;

    this.socket = null;
    this.status("connecting");
    this.connect(0);
  }

  /**
   * The Socket.IO client is loaded on demand: when it cannot be fetched (a filtering
   * proxy, a flaky network) the page still works through HTTP, and tries again later.
   */
  async connect(attempt) {
    let io;
    try {
      const url = new URL(CLIENT_URL);
      if (attempt) url.searchParams.set("retry", String(attempt)); // a failed import is cached per URL
      ({ io } = await import(url.href));
    } catch {
      this.status("offline");
      setTimeout(() => this.connect(attempt + 1), Math.min(30_000, 2000 * 2 ** attempt));
      return;
    }
    this.socket = io({ reconnectionDelayMax: 4000, timeout: 5000 });
    this.handlers.onSocket?.(this.socket); // e.g. a class room joins on it
    this.socket.on("connect", () => {
      this.status("live");
      this.pump();
    });
    this.socket.on("disconnect", () => this.lost());
    this.socket.on("connect_error", () => this.lost());
    this.socket.io.on("reconnect_attempt", () => this.status("offline"));
    this.socket.on("prediction", (payload) => this.answered(payload));
    this.socket.on("prediction_error", (payload) => this.answered(payload));
  }

  get connected() {
    return Boolean(this.socket?.connected);
  }

  status(state) {
    this.handlers.onStatus(state, STATUS_TEXT[state]);
  }

  lost() {
    this.status("offline");
    this.upload?.resolve(null); // nor will an upload's: it goes by HTTP
    if (this.inFlightSeq !== null) {
      // That frame's answer will not come: let the fallback send the same ink again.
      this.sentVersion = -1;
      this.explainedVersion = -1;
      this.release(this.inFlightSeq);
    }
  }

  /** The pad changed (or a stroke ended): send its ink if the rules allow it now. */
  async pump() {
    // The newest ink goes out when the slot frees up; not while an upload is asked over the
    // socket either: the server answers a client's newest frame only, and that must be the upload.
    if (this.busy || this.upload) return;
    const live = this.connected;
    // Offline, one request per finished stroke: a POST per move would flood the server.
    if (!live && this.pad.drawing) return;
    const version = this.pad.version;
    // A finished drawing goes out once with `explain` (the teaching lens), never a frame while drawing.
    const explain = !this.pad.drawing && this.explainedVersion !== version;
    const unchanged = version === this.sentVersion;
    if (unchanged && !explain) {
      this.markFinal(version);
      return;
    }
    if (this.pad.isEmpty) {
      this.sentVersion = version;
      return;
    }
    // A dot or the start of a first stroke says nothing yet: wait for more ink or the pen lifting
    // (a lone dot then gets the server's blank answer, not a confident "0").
    if (this.pad.drawing && !enoughInk(this.pad.strokes)) return;
    const payload = strokesPayload(this.pad.strokes, this.pad.side);
    this.busy = true;
    const seq = ++this.seq;
    this.sentVersion = version;
    if (explain) this.explainedVersion = version;
    this.versions.set(seq, version);
    if (unchanged) this.markFinal(version); // the same ink, sent again only to be explained
    if (live) {
      this.inFlightSeq = seq;
      this.timer = setTimeout(() => this.release(seq), ANSWER_TIMEOUT_MS);
      this.onWall = true;
      this.socket.emit("snapshot", explain ? { seq, ...payload, explain: true } : { seq, ...payload });
      return;
    }
    const result = await postStrokes(payload, { explain });
    this.busy = false;
    if (result.ok) this.deliver({ ...result.payload, seq }, "fallback");
    else if (seq >= this.discardBelow) this.handlers.onError(result.message);
    this.pump();
  }

  /**
   * Nothing changed since the last frame. If its answer is already on screen and the stroke
   * just ended, that answer is the final one: say so (it was shown as "live").
   */
  markFinal(version) {
    if (!this.pad.drawing && this.shown && !this.shown.final && this.shown.version === version) {
      this.shown.final = true;
      this.handlers.onPrediction(this.shown.payload, { final: true, source: this.shown.source });
    }
  }

  release(seq) {
    if (this.inFlightSeq !== seq) return;
    clearTimeout(this.timer);
    this.inFlightSeq = null;
    this.busy = false;
    this.pump();
  }

  answered(payload) {
    const seq = payload.seq;
    // Answers come in seq order, so one for the frame in flight or a newer one frees the slot.
    if (this.inFlightSeq !== null && Number.isInteger(seq) && seq >= this.inFlightSeq) {
      this.release(this.inFlightSeq);
    }
    if (Number.isInteger(seq) && seq === this.upload?.seq) {
      this.upload.resolve(payload);
      return;
    }
    if (payload.error) {
      if (!Number.isInteger(seq) || seq >= this.discardBelow) this.handlers.onError(payload.error.message);
      return;
    }
    this.deliver(payload, "socket");
  }

  deliver(payload, source) {
    const { seq } = payload;
    if (seq < this.discardBelow || seq < this.shownSeq) return;
    this.shownSeq = seq;
    const version = this.versions.get(seq);
    for (const key of this.versions.keys()) if (key <= seq) this.versions.delete(key);
    // Final: the answer pictures the ink as it now stands, with no stroke under way.
    const final = source === "upload" || (!this.pad.drawing && version === this.pad.version);
    // Repeat: the same finished ink answered again (with its explanation): nothing new to announce.
    const repeat = Boolean(final && this.shown?.final && this.shown.version === version && source !== "upload");
    this.shown = { payload, version, final, source };
    this.handlers.onPrediction(payload, { final, source, repeat });
  }

  /** Forget everything asked so far (after a clear): late answers must not come back. */
  reset() {
    this.blankWall();
    this.shown = null;
    this.discardBelow = this.seq + 1;
    this.sentVersion = this.pad.version;
  }

  /**
   * In a class room, tell the wall that the page shows nothing now: a frame without ink, whose
   * blank answer empties the tile (and is dropped here, being older than what reset() keeps).
   */
  blankWall() {
    if (!this.room || !this.onWall || !this.connected || this.upload) return; // an upload's answer will do
    this.onWall = false;
    this.socket.emit("snapshot", { seq: ++this.seq, strokes: [], size: [this.pad.side, this.pad.side] });
  }

  /**
   * Predict an uploaded file: over the socket in a class room (so the wall sees it), else through
   * HTTP. Only a readable picture replaces the drawing: `accepted()` runs (and the drawing's pending
   * answers are dropped) just before it is shown; a refused file leaves the drawing and its answer
   * as they were, and only its error shows.
   */
  async predictFile(file, accepted) {
    const viaSocket = this.room && this.connected && file.size > 0 && file.size <= MAX_SOCKET_PICTURE;
    const answered = viaSocket ? await this.askSocket(file) : null;
    const result = answered || await postImage(file, file.name || "upload", { explain: true });
    if (!result.ok) {
      this.handlers.onError(result.message);
      if (answered) this.pump(); // ink drawn while the socket was kept for the picture
      return false;
    }
    if (answered) this.onWall = false; // the wall shows the picture now: putting the drawing away must not blank it
    accepted();
    this.reset();
    if (answered) this.onWall = true;
    this.deliver({ ...result.payload, seq: ++this.seq }, "upload");
    return true;
  }

  /** An upload as a snapshot: its answer as postImage gives it, or null to ask by HTTP instead. */
  async askSocket(file) {
    const image = await file.arrayBuffer();
    if (!this.connected) return null;
    this.upload?.resolve(null); // this one supersedes an earlier one at the server: that goes by HTTP
    const seq = ++this.seq;
    const payload = await new Promise((resolve) => {
      this.upload = { seq, resolve };
      this.onWall = true;
      this.socket.emit("snapshot", { seq, image, explain: true });
    });
    if (this.upload?.seq === seq) this.upload = null;
    if (!payload || payload.error?.code === "frame_too_large") return null; // the server's limit is lower
    return payload.error ? { ok: false, message: payload.error.message } : { ok: true, payload };
  }
}
