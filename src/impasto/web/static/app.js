// impasto's page: choose a photo and a style, queue a job, follow it over Server-Sent Events.
// Plain browser JavaScript: no framework, no build step, nothing loaded from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const HISTORY_PAGE = 24;
const RETRY_MS = 1500;
const state = {
  caps: null,
  styles: [],
  instantStyles: [],
  contentFile: null,
  styleId: null,     // a bundled painting or an instant style ...
  instant: false,    // ... (which of the two) ...
  styleFile: null,   // ... or an uploaded style image
  jobId: null,
  job: null,
  events: null,
  historyShown: HISTORY_PAGE,
  offline: false,
  started: false,
};

class ServerError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

// Every call to the server goes through here: a network failure means the connection is lost
// (the page says so and retries), a 401 that the server wants its password.
async function api(path, options) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (e) {
    connectionLost();
    throw new ServerError("Lost the connection to the server.", 0);
  }
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (response.status === 401 && !path.startsWith("/api/login")) showLogin();
  if (!response.ok) {
    throw new ServerError((body && body.detail) || `the server answered ${response.status}`, response.status);
  }
  return body;
}

function showError(message) {
  const box = $("form-error");
  box.textContent = message || "";
  box.hidden = !message;
}

// -- the connection ----------------------------------------------------------------------------
function connectionLost() {
  if (state.offline) return;
  state.offline = true;
  $("connection").hidden = false;
  if (state.events) { state.events.close(); state.events = null; }
  if (state.job && !isFinished(state.job)) {
    $("status").textContent = "Connection lost: retrying…";
    $("status").dataset.state = "offline";
  }
  setTimeout(probe, RETRY_MS);
}

async function probe() {
  try {
    const r = await fetch("/api/capabilities", { cache: "no-store" });
    if (!r.ok) throw new Error(String(r.status));
  } catch (e) {
    setTimeout(probe, RETRY_MS);
    return;
  }
  state.offline = false;
  $("connection").hidden = true;
  if (!state.started) { start(); return; }
  refreshHistory();
  if (state.jobId) {
    try {
      follow(await api(`/api/jobs/${state.jobId}`));
    } catch (e) {
      if (e.status === 404) showDeleted();
    }
  }
}

// -- the password ------------------------------------------------------------------------------
function showLogin() {
  $("login").hidden = false;
  $("main").hidden = true;
  $("password").focus();
}

async function login(event) {
  event.preventDefault();
  const form = new FormData();
  form.append("password", $("password").value);
  $("login-error").hidden = true;
  try {
    await api("/api/login", { method: "POST", body: form });
  } catch (e) {
    $("login-error").textContent = e.status === 401 ? "That is not the password." : e.message;
    $("login-error").hidden = false;
    return;
  }
  $("login").hidden = true;
  $("main").hidden = false;
  start();
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

function selectStyle(id, instant = false) {
  state.styleId = id;
  state.instant = !!id && instant;
  for (const card of document.querySelectorAll(".style-card")) {
    const chosen = id ? card.dataset.id === id && card.dataset.instant === String(state.instant)
                      : card.id === "style-upload-card" && !!state.styleFile;
    card.setAttribute("aria-checked", chosen ? "true" : "false");
  }
  // An instant style has its strength built in and is painted in one pass.
  $("strength").disabled = state.instant;
  $("strength-control").classList.toggle("off", state.instant);
  $("instant-note").hidden = !state.instant;
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

function styleCard(id, instant, imageUrl, title, subtitle, tooltip) {
  const card = document.createElement("button");
  card.type = "button";
  card.className = "style-card" + (instant ? " instant" : "");
  card.dataset.id = id;
  card.dataset.instant = String(instant);
  card.setAttribute("role", "radio");
  card.setAttribute("aria-checked", "false");
  card.title = tooltip;
  const img = document.createElement("img");
  img.src = imageUrl;
  img.alt = title;
  img.loading = "lazy";
  const caption = document.createElement("span");
  caption.className = "caption";
  caption.textContent = title;
  const small = document.createElement("small");
  small.textContent = subtitle;
  caption.append(small);
  card.append(img, caption);
  card.addEventListener("click", () => selectStyle(id, instant));
  return card;
}

function buildGallery() {
  const gallery = $("style-gallery");
  const upload = $("style-upload-card");
  const credits = [];
  for (const s of state.styles) {
    gallery.insertBefore(styleCard(s.id, false, s.image_url, s.title, `${s.artist}, ${s.year}`,
                                   `${s.title}, ${s.artist} (${s.year}). ${s.credit}`), upload);
    credits.push(`${s.title} (${s.artist}, ${s.year}): ${s.credit}`);
  }
  $("credits").textContent = credits.join(" · ");
  const instant = $("instant-gallery");
  for (const s of state.instantStyles) {
    instant.append(styleCard(s.id, true, s.preview_url, s.title, "instant · about 1 s",
                             `${s.title}: a trained network paints it in one pass (the picture is its ` +
                             `sample, The Shipwreck). ${s.credit}`));
  }
  instant.hidden = $("instant-heading").hidden = !state.instantStyles.length;
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
  if (caps.instant_any) {  // any painting in one pass; "refine" then optimises from it
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "quality";
    input.value = "instant";
    const small = document.createElement("small");
    small.textContent = " about 1 s";
    label.append(input, "instant", small);
    quality.prepend(label);
  }
  const update = () => { $("strength-out").textContent = `×${strength()}`; };
  $("strength").addEventListener("input", update);
  update();
}

function chosenQuality() {
  return document.querySelector("#quality input:checked")?.value || "balanced";
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
  if (state.instant) {
    form.append("quality", "instant");
  } else {
    form.append("style_strength", String(strength()));
    form.append("quality", chosenQuality());
  }
  form.append("size", $("size").value);
  form.append("preserve_color", $("preserve-color").checked ? "true" : "false");
  await startJob("/api/jobs", form, $("submit"), showError);
}

async function refine() {
  if (!state.jobId) return;
  const form = new FormData();
  form.append("quality", chosenQuality() === "instant" ? "balanced" : chosenQuality());
  await startJob(`/api/jobs/${state.jobId}/refine`, form, $("refine"),
                 (message) => { $("progress-text").textContent = message; });
}

async function startJob(path, form, button, onError) {
  button.disabled = true;
  onError("");
  try {
    const job = await api(path, { method: "POST", body: form });
    follow(job);
    revealJob();
    refreshHistory();
  } catch (e) {
    onError(e.message);
  } finally {
    button.disabled = false;
  }
}

// On a phone the job card is below the form: bring it into view, or nothing seems to happen.
function revealJob() {
  const box = $("job").getBoundingClientRect();
  if (box.top < 0 || box.top > window.innerHeight * 0.6) {
    $("job").scrollIntoView({ behavior: "smooth", block: "start" });
  }
}

function seconds(s) {
  if (s == null) return "";
  if (s < 60) return `about ${Math.max(1, Math.round(s))} s left`;
  return `about ${Math.round(s / 60)} min left`;
}

const isFinished = (job) => ["done", "failed", "cancelled", "deleted"].includes(job.state);

function render(job) {
  state.job = job;
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
    status = job.step || job.instant ? "Painting…" : "Getting the brushes ready…";
    if (!job.instant) {
      detail = `step ${job.step} of ${job.total}` + (job.eta_seconds != null ? ` · ${seconds(job.eta_seconds)}` : "");
    }
  } else if (job.state === "done") {
    status = "Done";
    const took = Math.max(0, job.finished - job.started);
    detail = job.instant ? `painted in ${took < 10 ? took.toFixed(1) : Math.round(took)} s`
                         : `${job.step} steps in ${Math.round(took)} s`;
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
  $("refine").hidden = !job.refinable;
  $("cancel").hidden = isFinished(job);
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
  state.events = null;
  state.jobId = job.id;
  localStorage.setItem("impasto.job", job.id);
  const live = $("live-image");
  if (live.dataset.job !== job.id) {
    live.removeAttribute("src");
    live.dataset.job = "";
  }
  render(job);
  if (isFinished(job)) return;
  const events = new EventSource(job.links.events);
  state.events = events;
  events.addEventListener("progress", (e) => {
    const data = JSON.parse(e.data);
    if (data.id === state.jobId) render(data);
  });
  events.addEventListener("end", (e) => {
    events.close();
    if (state.events === events) state.events = null;
    if (JSON.parse(e.data).state === "deleted" && state.jobId === job.id) showDeleted();
    refreshHistory();
  });
  // The stream broke (the server stopped, or the network went): say so and retry ourselves.
  events.addEventListener("error", () => {
    if (state.events === events && events.readyState !== EventSource.OPEN) connectionLost();
  });
}

// The job was deleted elsewhere (another tab or window): say so, and stop following it.
function showDeleted() {
  if (state.events) state.events.close();
  state.events = null;
  localStorage.removeItem("impasto.job");
  state.job = { state: "deleted" };
  $("job-empty").hidden = true;
  $("job-view").hidden = false;
  $("status").textContent = "This painting was deleted (in another tab or window).";
  $("status").dataset.state = "deleted";
  $("progress-text").textContent = "";
  for (const id of ["live", "result", "download", "refine", "cancel"]) $(id).hidden = true;
}

function forget() {
  if (state.events) state.events.close();
  state.events = null;
  state.jobId = state.job = null;
  localStorage.removeItem("impasto.job");
  $("job-view").hidden = true;
  $("job-empty").hidden = false;
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
    list = await api(`/api/jobs?limit=${state.historyShown}`);
  } catch (e) {
    return;
  }
  const ul = $("history");
  ul.replaceChildren();
  $("history-empty").hidden = list.jobs.length > 0;
  $("history-count").textContent = list.total ? `· ${list.total}` : "";
  $("history-more").hidden = list.jobs.length >= list.total;
  $("history-clear").hidden = !list.jobs.some(isFinished);
  for (const job of list.jobs) {
    const li = document.createElement("li");
    li.dataset.id = job.id;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "open";
    const img = document.createElement("img");
    img.alt = "";
    img.loading = "lazy";
    img.src = `${job.links.thumbnail}?v=${job.state}-${job.preview_version}`;
    const meta = document.createElement("span");
    meta.className = "meta";
    const when = document.createElement("span");
    when.textContent = new Date(job.created * 1000).toLocaleString([], { month: "short", day: "numeric", hour: "numeric", minute: "2-digit", hour12: false });
    const badge = document.createElement("span");
    badge.className = `badge ${job.state}`;
    badge.textContent = job.instant && job.state === "done" ? "instant" : job.state;
    meta.append(when, badge);
    button.append(img, meta);
    button.title = job.style_title;
    button.addEventListener("click", () => { follow(job); revealJob(); });
    li.append(button);
    if (job.state !== "running") {
      const del = document.createElement("button");
      del.type = "button";
      del.className = "delete";
      del.textContent = "×";
      del.title = "Delete this painting";
      del.setAttribute("aria-label", "Delete this painting");
      del.addEventListener("click", () => deleteJob(job.id));
      li.append(del);
    }
    ul.append(li);
  }
}

async function deleteJob(id) {
  try {
    await api(`/api/jobs/${id}`, { method: "DELETE" });
  } catch (e) {
    if (e.status !== 404) return;
  }
  if (id === state.jobId) forget();
  refreshHistory();
}

async function clearHistory() {
  try {
    await api("/api/jobs", { method: "DELETE" });
  } catch (e) {
    return;
  }
  if (state.job && isFinished(state.job)) forget();
  state.historyShown = HISTORY_PAGE;
  refreshHistory();
}

// -- start -------------------------------------------------------------------------------------
async function start() {
  try {
    state.caps = await api("/api/capabilities");
    if (state.caps.password_required && !state.caps.authorised) return showLogin();
    [state.styles, state.instantStyles] = await Promise.all([api("/api/styles"), api("/api/instant-styles")]);
  } catch (e) {
    if (e.status !== 0 && e.status !== 401) showError(`Cannot reach the impasto server: ${e.message}`);
    return;
  }
  state.started = true;
  buildControls();
  buildGallery();
  await refreshHistory();
  const last = localStorage.getItem("impasto.job");
  if (last) {
    try { follow(await api(`/api/jobs/${last}`)); } catch (e) { if (e.status === 404) localStorage.removeItem("impasto.job"); }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("content-input").addEventListener("change", (e) => setContent(e.target.files[0]));
  $("style-input").addEventListener("change", (e) => setStyleFile(e.target.files[0]));
  $("style-upload-card").addEventListener("click", () => { if (state.styleFile) selectStyle(null); });
  dropTarget($("content-drop"), setContent);
  dropTarget($("style-upload-card"), setStyleFile);
  $("job-form").addEventListener("submit", submit);
  $("login").addEventListener("submit", login);
  $("cancel").addEventListener("click", cancel);
  $("refine").addEventListener("click", refine);
  $("history-more").addEventListener("click", () => { state.historyShown += HISTORY_PAGE; refreshHistory(); });
  $("history-clear").addEventListener("click", clearHistory);
  start();
});
