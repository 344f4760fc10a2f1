/* MicroGPT console: the little JavaScript the pages need (review keyboard, streamed drafts, upload, job progress). */
"use strict";

function reviewKeyboard() {
  const form = document.getElementById("review-form");
  if (!form) return;
  const search = document.getElementById("label-search");
  const items = Array.from(form.querySelectorAll("#choices li"));
  const visible = () => items.filter((li) => !li.hidden);
  const number = () => visible().forEach((li, i) => { li.querySelector(".num").textContent = i < 9 ? String(i + 1) : ""; });
  const pick = (li) => { if (li) { li.querySelector("input").checked = true; li.scrollIntoView({ block: "nearest" }); } };
  const submit = (action) => { document.getElementById("review-action").value = action; form.submit(); };
  number();
  search.addEventListener("input", () => {
    const q = search.value.trim().toLowerCase();
    items.forEach((li) => { li.hidden = q !== "" && !li.textContent.toLowerCase().includes(q); });
    number();
    pick(visible()[0]);
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.target === search) {
      if (ev.key === "Enter") { ev.preventDefault(); pick(visible()[0]); submit("accept"); }
      else if (ev.key === "Escape") { search.blur(); }
      return;
    }
    if (ev.target instanceof HTMLTextAreaElement || (ev.target instanceof HTMLInputElement && ev.target.type === "text")) return;
    if (/^[1-9]$/.test(ev.key)) { ev.preventDefault(); pick(visible()[Number(ev.key) - 1]); }
    else if (ev.key === "Enter") { ev.preventDefault(); submit("accept"); }
    else if (ev.key === "s" || ev.key === "S") { ev.preventDefault(); submit("skip"); }
    else if (ev.key === "/") { ev.preventDefault(); search.focus(); }
  });
}

function streamedDrafts() {
  const form = document.getElementById("try-form");
  if (!form || form.dataset.task !== "reply") return;
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = form.querySelector("textarea").value;
    const card = document.getElementById("draft-card");
    const out = document.getElementById("draft");
    const meta = document.getElementById("draft-meta");
    card.hidden = false; out.textContent = ""; meta.textContent = "writing…"; delete card.dataset.done;
    const source = new EventSource(`/try/${encodeURIComponent(form.dataset.module)}/stream?text=${encodeURIComponent(text)}`);
    source.addEventListener("token", (e) => { out.textContent += JSON.parse(e.data).text; });
    source.addEventListener("done", (e) => {
      const d = JSON.parse(e.data);
      out.textContent = d.reply;
      const notes = [d.intent ? `intent: ${d.intent}` : "", d.unfilled && d.unfilled.length ? `fill in: ${d.unfilled.join(", ")}` : ""];
      meta.textContent = notes.filter(Boolean).join(" · ");
      card.dataset.done = "1";
      source.close();
    });
    source.onerror = () => { meta.textContent = "the stream stopped"; source.close(); };
  });
}

function upload() {
  const input = document.getElementById("upload-file");
  if (!input) return;
  const form = input.form;
  input.addEventListener("change", () => {
    const file = input.files[0];
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => {
      form.querySelector("[name=content]").value = reader.result;
      form.querySelector("[name=filename]").value = file.name;
      form.submit();
    };
    reader.readAsText(file);
  });
}

function jobProgress() {
  const box = document.getElementById("job");
  if (!box) return;
  const bar = box.querySelector("progress");
  const label = document.getElementById("job-stage");
  const pct = document.getElementById("job-pct");
  const source = new EventSource(`/data/jobs/${box.dataset.job}/events`);
  const show = (d) => { bar.value = d.percent; pct.textContent = `${d.percent}%`; label.textContent = d.stage; };
  source.addEventListener("progress", (e) => show(JSON.parse(e.data)));
  source.addEventListener("done", (e) => {
    const d = JSON.parse(e.data);
    show(d);
    source.close();
    const result = document.getElementById("job-result");
    result.hidden = false;
    if (d.error) { result.className = "error"; result.textContent = d.error; return; }
    result.querySelector("[data-field=summary]").textContent = d.summary;
    result.querySelector("a.report").href = d.report || "#";
    result.querySelector("a.report").hidden = !d.report;
  });
  source.onerror = () => { label.textContent = "lost the connection; reload to see the job"; source.close(); };
}

document.addEventListener("DOMContentLoaded", () => { reviewKeyboard(); streamedDrafts(); upload(); jobProgress(); });
