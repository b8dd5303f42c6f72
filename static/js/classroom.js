// A student's page in a class room: join the room on the page's socket (again after every
// reconnect), say which class this is, let the student set a name, and stop when the teacher
// removes them or ends the class. Drawing and predictions are the normal page's own.
const NAME_KEY = "digits-class-name";

export function joinClass(socket, { room, visit, name }) {
  const status = document.getElementById("class-status");
  const form = document.getElementById("class-rename");
  const input = document.getElementById("class-name");
  const banner = document.getElementById("class-banner");
  let stopped = false;
  if (!input.value) input.value = sessionStorage.getItem(NAME_KEY) || name || "";

  const show = (state, text) => {
    banner.dataset.state = state;
    status.dataset.state = state;
    status.textContent = text;
  };

  const join = () => {
    if (stopped) return;
    show("joining", "joining…");
    socket.emit("room_join", { code: room, visit, name: input.value }, (answer) => {
      if (!answer?.ok) {
        stop(answer?.message || "Could not join this class.");
        return;
      }
      input.value = answer.name.startsWith("Student ") && !input.value ? "" : answer.name;
      input.placeholder = answer.name;
      show("joined", `· you are ${answer.name} · on the class wall`);
    });
  };

  const stop = (message) => {
    stopped = true;
    show("left", `· ${message} You can keep drawing on your own.`);
    document.getElementById("class-rename-box").hidden = true;
  };

  socket.on("connect", join);
  if (socket.connected) join();
  socket.on("disconnect", () => { if (!stopped) show("joining", "reconnecting…"); });
  socket.on("room_left", ({ message }) => {
    socket.emit("room_leave");
    stop(message);
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(NAME_KEY, input.value);
    socket.emit("room_rename", { name: input.value }, (answer) => {
      if (answer?.ok) show("joined", `· you are ${answer.name} · on the class wall`);
    });
    input.blur();
    document.getElementById("class-rename-box").open = false;
  });
}
