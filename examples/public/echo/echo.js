// Opens a WebSocket to /ws and logs what goes out and what comes back.
(function () {
  const log = document.getElementById("log");
  const input = document.getElementById("text");
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(scheme + location.host + "/ws");
  function show(kind, text) {
    const li = document.createElement("li");
    li.className = kind;
    li.textContent = (kind === "in" ? "← " : "→ ") + text;
    log.prepend(li);
  }
  ws.onopen = () => show("in", "(connected)");
  ws.onmessage = (e) => show("in", e.data);
  ws.onclose = (e) => show("in", "(closed " + e.code + ")");
  document.getElementById("form").addEventListener("submit", (e) => {
    e.preventDefault();
    if (input.value && ws.readyState === WebSocket.OPEN) {
      ws.send(input.value);
      show("out", input.value);
      input.value = "";
    }
  });
})();
