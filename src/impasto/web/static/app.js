// impasto's page: choose a photo and a style, queue a job, follow it over Server-Sent Events.
// Plain browser JavaScript: no framework, no build step, nothing loaded from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  caps: null,
  styles: [],
  contentFile: null,
  styleId: null,     // a bundled painting ...
  styleFile: null,   // ... or an uploaded style image
  jobId: null,
  events: null,
};

async function api(path, options) {
  const response = await fetch(path, options);
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) {
    throw new Error((body && body.detail) || `the server answered ${response.status}`);
  }
  return body;
}

function showError(message) {
  const box = $("form-error");
  box.textContent = message || "";
  box.hidden = !message;
}

// -- choosing images ---------------------------------------------------------------------------
function previewFile(file, img) {
  if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
  img.dataset.url = URL.createObjectURL(file);
  img.src = img.dataset.url;
  img.hidden = false;
}

function setContent(file) {
  if (!file) return;
  state.contentFile = file;
  previewFile(file, $("content-thumb"));
  $("content-drop").querySelector(".drop-text").textContent = file.name + " · choose another";
  showError("");
}

function selectStyle(id) {
  state.styleId = id;
  for (const card of document.querySelectorAll(".style-card")) {
    const chosen = id ? card.dataset.id === id : card.id === "style-upload-card" && !!state.styleFile;
    card.setAttribute("aria-checked", chosen ? "true" : "false");
  }
  showError("");
}

function setStyleFile(file) {
  if (!file) return;
  state.styleFile = file;
  previewFile(file, $("style-thumb"));
  document.querySelector("#style-upload-card .upload-text").hidden = true;
  $("style-upload-caption").hidden = false;
  $("style-upload-caption").textContent = file.name;
  selectStyle(null);
}

function dropTarget(element, onFile) {
  for (const type of ["dragenter", "dragover"]) {
    element.addEventListener(type, (e) => { e.preventDefault(); element.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    element.addEventListener(type, () => element.classList.remove("over"));
  }
  element.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer?.files?.[0];
    if (file) onFile(file);
  });
}

function buildGallery() {
  const gallery = $("style-gallery");
  const upload = $("style-upload-card");
  const credits = [];
  for (const s of state.styles) {
    const card = document.createElement("button");
    card.type = "button";
    card.className = "style-card";
    card.dataset.id = s.id;
    card.setAttribute("role", "radio");
    card.setAttribute("aria-checked", "false");
    card.title = `${s.title}, ${s.artist} (${s.year}). ${s.credit}`;
    const img = document.createElement("img");
    img.src = s.image_url;
    img.alt = s.title;
    const caption = document.createElement("span");
    caption.className = "caption";
    caption.textContent = s.title;
    const who = document.createElement("small");
    who.textContent = `${s.artist}, ${s.year}`;
    caption.append(who);
    card.append(img, caption);
    card.addEventListener("click", () => selectStyle(s.id));
    gallery.insertBefore(card, upload);
    credits.push(`${s.title} (${s.artist}, ${s.year}): ${s.credit}`);
  }
  $("credits").textContent = credits.join(" · ");
  if (state.styles.length) selectStyle(state.styles[0].id);
}

// -- controls ----------------------------------------------------------------------------------
function strength() {
  // The slider is logarithmic: -100..100 maps onto min..max strength with 0 at x1.
  const v = Number($("strength").value) / 100;
  const { min_strength: lo, max_strength: hi } = state.caps;
  const s = v < 0 ? Math.pow(lo, -v) : Math.pow(hi, v);
  return Math.round(s * 100) / 100;
}

function buildControls() {
  const caps = state.caps;
  const sizes = [256, 384, 512, 768, 1024, 1536, 2048].filter((n) => n >= caps.min_size && n <= caps.max_size);
  if (!sizes.includes(caps.default_size)) sizes.push(caps.default_size);
  sizes.sort((a, b) => a - b);
  for (const n of sizes) {
    const option = new Option(`${n} px`, String(n), false, n === caps.default_size);
    $("size").append(option);
  }
  const quality = $("quality");
  for (const q of caps.qualities) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "quality";
    input.value = q.id;
    input.checked = q.id === "balanced";
    const small = document.createElement("small");
    small.textContent = ` ${q.iterations} steps`;
    label.append(input, q.id, small);
    quality.append(label);
  }
  const update = () => { $("strength-out").textContent = `×${strength()}`; };
  $("strength").addEventListener("input", update);
  update();
}

// -- submitting and following a job ----------------------------------------------------------
async function submit(event) {
  event.preventDefault();
  if (!state.contentFile) return showError("Choose a photo first.");
  if (!state.styleId && !state.styleFile) return showError("Choose a painting or upload a style image.");
  const form = new FormData();
  form.append("content", state.contentFile);
  if (state.styleId) form.append("style_id", state.styleId);
  else form.append("style", state.styleFile);
  form.append("style_strength", String(strength()));
  form.append("size", $("size").value);
  form.append("preserve_color", $("preserve-color").checked ? "true" : "false");
  form.append("quality", document.querySelector("#quality input:checked")?.value || "balanced");
  const button = $("submit");
  button.disabled = true;
  showError("");
  try {
    const job = await api("/api/jobs", { method: "POST", body: form });
    follow(job);
    refreshHistory();
  } catch (e) {
    showError(e.message);
  } finally {
    button.disabled = false;
  }
}

function seconds(s) {
  if (s == null) return "";
  if (s < 60) return `about ${Math.max(1, Math.round(s))} s left`;
  return `about ${Math.round(s / 60)} min left`;
}

function render(job) {
  $("job-empty").hidden = true;
  $("job-view").hidden = false;
  const pct = Math.round(job.progress * 100);
  const bar = $("progress-bar");
  bar.setAttribute("aria-valuenow", String(pct));
  $("progress-fill").style.width = `${pct}%`;
  let status = "";
  let detail = "";
  if (job.state === "queued") {
    status = job.jobs_ahead ? `Waiting in the queue: ${job.jobs_ahead} job${job.jobs_ahead === 1 ? "" : "s"} ahead of yours`
                            : "Next in the queue";
  } else if (job.state === "running") {
    status = job.step ? "Painting…" : "Getting the brushes ready…";
    detail = `step ${job.step} of ${job.total}` + (job.eta_seconds != null ? ` · ${seconds(job.eta_seconds)}` : "");
  } else if (job.state === "done") {
    status = "Done";
    detail = `${job.step} steps in ${Math.round(job.finished - job.started)} s`;
  } else if (job.state === "failed") {
    status = `Failed: ${job.error || "unknown error"}`;
  } else {
    status = "Cancelled";
  }
  $("status").textContent = status;
  $("status").dataset.state = job.state;
  $("progress-text").textContent = detail;
  const live = $("live-image");
  if (job.preview) live.src = job.preview;
  else if (job.preview_version && live.dataset.job !== job.id) live.src = `${job.links.preview}?v=${job.preview_version}`;
  live.dataset.job = job.id;
  $("live").hidden = job.state === "done" || (!job.preview_version && !job.preview);
  const done = job.state === "done";
  $("result").hidden = !done;
  $("download").hidden = !done;
  $("cancel").hidden = job.state !== "queued" && job.state !== "running";
  if (done) {
    $("result-content").src = job.links.content;
    $("result-style").src = job.links.style;
    $("result-style-caption").textContent = job.style_title;
    $("result-image").src = `${job.links.result}?v=${job.preview_version}`;
    $("download").href = job.links.download;
  }
}

function follow(job) {
  if (state.events) state.events.close();
  state.jobId = job.id;
  localStorage.setItem("impasto.job", job.id);
  const live = $("live-image");
  live.removeAttribute("src");
  live.dataset.job = "";
  render(job);
  if (["done", "failed", "cancelled"].includes(job.state)) return;
  const events = new EventSource(job.links.events);
  state.events = events;
  events.addEventListener("progress", (e) => {
    const data = JSON.parse(e.data);
    if (data.id === state.jobId) render(data);
  });
  events.addEventListener("end", () => {
    events.close();
    refreshHistory();
  });
}

async function cancel() {
  if (!state.jobId) return;
  try {
    render(await api(`/api/jobs/${state.jobId}/cancel`, { method: "POST" }));
  } catch (e) {
    $("progress-text").textContent = e.message;
  }
}

// -- history -----------------------------------------------------------------------------------
async function refreshHistory() {
  let list;
  try {
    list = await api("/api/jobs?limit=48");
  } catch (e) {
    return;
  }
  const ul = $("history");
  ul.replaceChildren();
  $("history-empty").hidden = list.jobs.length > 0;
  for (const job of list.jobs) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    const img = document.createElement("img");
    img.alt = "";
    img.loading = "lazy";
    img.src = job.state === "done" ? job.links.result : job.preview_version ? job.links.preview : job.links.content;
    const meta = document.createElement("span");
    meta.className = "meta";
    const when = document.createElement("span");
    when.textContent = new Date(job.created * 1000).toLocaleString([], { month: "short", day: "numeric", hour: "numeric", minute: "2-digit", hour12: false });
    const badge = document.createElement("span");
    badge.className = `badge ${job.state}`;
    badge.textContent = job.state;
    meta.append(when, badge);
    button.append(img, meta);
    button.title = job.style_title;
    button.addEventListener("click", () => follow(job));
    li.append(button);
    ul.append(li);
  }
}

// -- start -------------------------------------------------------------------------------------
async function start() {
  try {
    [state.caps, state.styles] = await Promise.all([api("/api/capabilities"), api("/api/styles")]);
  } catch (e) {
    showError(`Cannot reach the impasto server: ${e.message}`);
    return;
  }
  buildControls();
  buildGallery();
  $("content-input").addEventListener("change", (e) => setContent(e.target.files[0]));
  $("style-input").addEventListener("change", (e) => setStyleFile(e.target.files[0]));
  $("style-upload-card").addEventListener("click", () => { if (state.styleFile) selectStyle(null); });
  dropTarget($("content-drop"), setContent);
  dropTarget($("style-upload-card"), setStyleFile);
  $("job-form").addEventListener("submit", submit);
  $("cancel").addEventListener("click", cancel);
  await refreshHistory();
  const last = localStorage.getItem("impasto.job");
  if (last) {
    try { follow(await api(`/api/jobs/${last}`)); } catch (e) { localStorage.removeItem("impasto.job"); }
  }
}

document.addEventListener("DOMContentLoaded", start);
