// depot console: progressive enhancement only. Every page works without this file; it adds
// drag-and-drop uploads with progress, live log following, and confirmations.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});

// Uploads: one request per file so each shows its own progress and becomes its own version.
function setUpUpload(form) {
  const input = form.querySelector("input[type=file]");
  const zone = form.querySelector(".dropzone");
  const list = form.querySelector("ul.progress");
  const status = form.querySelector("[data-upload-status]");
  let dropped = null;

  if (zone) {
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      dropped = Array.from(e.dataTransfer.files);
      // The picker then holds the dropped files too, which satisfies its `required`.
      try { input.files = e.dataTransfer.files; } catch (_) { input.required = false; }
      status.textContent = dropped.length + " file(s) ready: " + dropped.map((f) => f.name).join(", ");
    });
  }
  input.addEventListener("change", () => { dropped = null; });

  form.addEventListener("submit", (event) => {
    const files = dropped || Array.from(input.files);
    if (files.length === 0) return; // The server says what is missing.
    event.preventDefault();
    list.textContent = "";
    let left = files.length;
    let failed = 0;
    status.textContent = "Uploading " + left + " file(s)…";
    files.forEach((file) => {
      const item = document.createElement("li");
      const name = document.createElement("span");
      name.textContent = file.name;
      const bar = document.createElement("progress");
      bar.max = 100;
      bar.value = 0;
      bar.setAttribute("aria-label", "Upload of " + file.name);
      item.append(name, bar);
      list.append(item);

      const body = new FormData();
      // The token first: the server reads it before any file content.
      body.append("csrf", form.elements.csrf.value);
      body.append("Kind", form.elements.Kind.value);
      body.append("Visibility", form.elements.Visibility.value);
      body.append("Content", file, file.name);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
      });
      xhr.addEventListener("loadend", () => {
        let message = "";
        try { message = JSON.parse(xhr.responseText).message || ""; } catch (_) { message = ""; }
        const note = document.createElement("span");
        if (xhr.status >= 200 && xhr.status < 300) {
          bar.value = 100;
          note.textContent = " done";
        } else {
          failed += 1;
          note.textContent = " failed: " + (message || "HTTP " + xhr.status);
          note.className = "log-level-error";
        }
        name.append(note);
        left -= 1;
        if (left === 0) {
          status.textContent = failed === 0
            ? "All " + files.length + " file(s) uploaded. Reloading…"
            : failed + " of " + files.length + " upload(s) failed.";
          if (failed === 0) window.location.reload();
        }
      });
      xhr.send(body);
    });
  });
}

// Logs: newest first; new lines are added at the top while "Follow live" is checked.
function setUpLogs(table) {
  const body = table.querySelector("tbody");
  const feed = table.getAttribute("data-feed");
  const follow = document.getElementById("follow");
  const status = document.querySelector("[data-log-status]");
  let after = Number(table.getAttribute("data-after") || "0");

  async function poll() {
    if (follow && !follow.checked) return;
    try {
      const response = await fetch(feed + "?after=" + after, { headers: { Accept: "application/json" } });
      if (!response.ok) { status.textContent = "Following stopped: HTTP " + response.status; return; }
      const data = await response.json();
      // Oldest of the new lines first, each inserted at the top: newest ends up first.
      data.logs.slice().reverse().forEach((log) => {
        const row = document.createElement("tr");
        [log.date, log.level, log.message, log.request_sid].forEach((text, i) => {
          const cell = document.createElement("td");
          cell.textContent = text;
          if (i === 1) cell.className = "log-level-" + String(text).toLowerCase();
          if (i === 3) cell.className = "mono wide-only";
          row.append(cell);
        });
        body.prepend(row);
        after = Math.max(after, log.seq);
      });
      const empty = document.querySelector("[data-log-empty]");
      if (empty && data.logs.length > 0) empty.remove();
      status.textContent = "Following live. Last checked " + new Date().toLocaleTimeString() + ".";
    } catch (_) {
      status.textContent = "Following paused: the server did not answer.";
    }
  }
  setInterval(poll, 2000);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-upload]").forEach(setUpUpload);
  document.querySelectorAll("table[data-feed]").forEach(setUpLogs);
});
