// What an answer means for the person drawing: how sure to sound, in words, before it is shown.
// Pure functions, so the wording is decided in one place for the screen and the screen reader.

/** A probability as a percentage that never claims certainty or impossibility. */
export function percent(p) {
  if (!(p >= 0.0005)) return "<0.1%";
  if (p >= 0.9995) return ">99.9%";
  return `${(p * 100).toFixed(1)}%`;
}

/**
 * The reading of one answer: `kind` is
 *   "blank"       no ink to read,
 *   "reading"     an answer while the pointer is still down (it will change; shown as such),
 *   "sure"        the network's answer to the finished ink,
 *   "unsure"      an answer the server flags as not confident (`unsure_reason` "low_confidence"),
 *   "not-digit"   the server thinks it is no digit at all (`unsure_reason` "not_a_digit").
 * `note` is the line under the big digit; `spoken` what the live region says for final answers.
 */
export function readingOf(payload, { final }) {
  if (payload.blank || payload.digit === null || payload.digit === undefined) {
    return { kind: "blank", digit: "", note: "Nothing to read yet", spoken: "Nothing to read yet: the pad is blank." };
  }
  const digit = String(payload.digit);
  if (!final) return { kind: "reading", digit, note: "Reading…", spoken: "" };
  if (payload.unsure && payload.unsure_reason === "not_a_digit") {
    const note = "That doesn't look like a digit";
    return { kind: "not-digit", digit, note, spoken: `${note}.` };
  }
  if (payload.unsure) {
    const [first, second] = payload.top3 || [];
    const note = second ? `Not sure: ${first.digit} or ${second.digit}?` : `Not sure: maybe ${digit}?`;
    return { kind: "unsure", digit, note, spoken: note };
  }
  const sure = `${percent(payload.confidence)} sure`;
  return { kind: "sure", digit, note: sure, spoken: `The network reads ${digit}, ${sure}.` };
}
