// Deuteron console: follows a running deployment's log (Server-Sent Events) and shows its final
// status. Pages work without it; this only saves a reload.
"use strict";
(function () {
  var log = document.getElementById("log");
  if (!log || !log.dataset.follow || !window.EventSource) return;
  var badge = document.getElementById("deployment-status");
  var es = new EventSource(log.dataset.follow);
  es.addEventListener("line", function (e) {
    var l = JSON.parse(e.data);
    var span = document.createElement("span");
    span.className = l.stream;
    span.textContent = l.line;
    log.appendChild(span);
    log.appendChild(document.createTextNode("\n"));
    log.scrollTop = log.scrollHeight;
  });
  es.addEventListener("end", function (e) {
    var d = JSON.parse(e.data);
    es.close();
    var s = d.deploymentStatus;
    var k = s.toLowerCase();
    var mark = k.indexOf("failed") >= 0 ? "✗ " : k === "succeeded" ? "✓ " : "";
    var span = document.createElement("span");
    span.className = "badge st-" + k;
    span.textContent = mark + s;
    badge.replaceChildren(span);
    if (d.message) {
      var msg = document.createElement("span");
      msg.className = "muted";
      msg.textContent = " " + d.message;
      badge.appendChild(msg);
    }
    [["started", d.startedAt], ["completed", d.completedAt], ["attempts", d.attempts]].forEach(function (f) {
      var el = document.getElementById(f[0]);
      if (el && f[1] !== undefined && f[1] !== null) el.textContent = String(f[1]);
    });
    var note = document.getElementById("follow-note");
    if (note) note.textContent = "The deployment ended: " + s + ".";
    var cancel = document.getElementById("cancel-form");
    if (cancel) cancel.remove();
  });
})();
