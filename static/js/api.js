// The HTTP API: uploads, the fallback for drawings when the socket is down, model facts.

/**
 * POST an image to /api/predict as multipart field `image` (`explain`: add the teaching lens's
 * evidence, for finished drawings and uploads only).
 * Resolves to {ok: true, payload} or {ok: false, message}; never throws.
 */
export async function postImage(blob, filename = "drawing.png", { explain = false } = {}) {
  const form = new FormData();
  form.append("image", blob, filename);
  if (explain) form.append("explain", "1");
  return answerOf(() => fetch("/api/predict", { method: "POST", body: form }));
}

/** POST a drawing as strokes ({strokes, size}, see snapshot.js) as JSON; same result shape as postImage. */
export async function postStrokes(payload, { explain = false } = {}) {
  const body = JSON.stringify(explain ? { ...payload, explain: true } : payload);
  return answerOf(() => fetch("/api/predict", {
    method: "POST", headers: { "Content-Type": "application/json" }, body,
  }));
}

/** The feature maps of each convolution for a 28x28 model input (a data URL); same result shape. */
export async function postLayers(input28) {
  return answerOf(() => fetch("/api/layers", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ input28 }),
  }));
}

async function answerOf(send) {
  let response;
  try {
    response = await send();
  } catch {
    return { ok: false, message: "Could not reach the server. Check the connection and try again." };
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    // A proxy's HTML error page, or a connection cut mid-answer.
  }
  if (response.ok && body) return { ok: true, payload: body };
  const message = body?.error?.message || `The server answered ${response.status} ${response.statusText}.`;
  return { ok: false, message };
}

export async function getModel() {
  const response = await fetch("/api/model");
  if (!response.ok) throw new Error(`GET /api/model: ${response.status}`);
  return response.json();
}
