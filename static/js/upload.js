// Pictures from outside the pad: the file input, drag and drop anywhere on the page, and paste.

/** Calls onFile(file) for every picture the user hands over, however they do it. */
export function setupUpload({ input, dropTarget, onFile }) {
  // Browsers open a file input on Space but not on Enter, which is what people press on a button.
  input.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || e.repeat) return;
    e.preventDefault();
    input.click();
  });
  input.addEventListener("change", () => {
    const [file] = input.files;
    if (file) onFile(file);
    // Choosing the same file again must fire `change` again.
    input.value = "";
  });

  let depth = 0; // dragenter/dragleave fire for every child crossed; count to know when it left
  const hasFiles = (e) => Array.from(e.dataTransfer?.types || []).includes("Files");
  dropTarget.addEventListener("dragenter", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth += 1;
    document.body.classList.add("is-dragging");
  });
  dropTarget.addEventListener("dragover", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault(); // without this the browser opens the file instead of dropping it
    e.dataTransfer.dropEffect = "copy";
  });
  dropTarget.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) document.body.classList.remove("is-dragging");
  });
  dropTarget.addEventListener("drop", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    document.body.classList.remove("is-dragging");
    const [file] = e.dataTransfer.files;
    if (file) onFile(file);
  });

  document.addEventListener("paste", (e) => {
    const item = Array.from(e.clipboardData?.items || []).find((i) => i.kind === "file");
    const file = item?.getAsFile();
    if (!file) return;
    e.preventDefault();
    onFile(file);
  });
}
