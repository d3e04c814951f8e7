// herd dashboard: the jobs page. One EventSource keeps the queues and the
// list live (its query is the filter); a second one follows the job whose
// detail is open. Cancel and retry are POSTs with the page's CSRF value
// (common.js: herd).
"use strict";
(function () {
  const { $, el, button, say, ask, setCell: set, placeRows } = herd;
  const states = ["queued", "scheduled", "running", "retrying", "succeeded", "failed", "cancelled"];
  const finals = { succeeded: true, failed: true, cancelled: true };
  const q = new URLSearchParams(location.search);
  // order is "" (newest first, the default) or "oldest".
  const filter = { state: q.get("state") || "", queue: q.get("queue") || "", kind: q.get("kind") || "", cursor: q.get("cursor") || "",
    order: q.get("order") === "oldest" ? "oldest" : "" };
  const filterKeys = ["state", "queue", "kind", "cursor", "order"];
  let data = null; // the last "jobs" event
  let listSource = null;
  let jobSource = null;
  let shown = null; // the job in the detail pane
  let stateButtons = null; // the state filter's buttons, made by the first drawStates

  function dur(ms) {
    if (ms < 1000) return ms + "ms";
    const s = Math.floor(ms / 1000);
    if (s < 60) return (ms / 1000).toFixed(1) + "s";
    if (s < 3600) return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
    if (s < 172800) return Math.floor(s / 3600) + "h" + String(Math.floor(s / 60) % 60).padStart(2, "0") + "m";
    return Math.floor(s / 86400) + "d";
  }
  function ago(t) {
    return t ? dur(Math.max(0, Date.now() - t)) + " ago" : "-";
  }
  function when(t) {
    return t ? new Date(t).toLocaleString() : "";
  }
  function took(j) {
    if (!j.started) return "-";
    return dur((j.finished || Date.now()) - j.started);
  }
  function rate(r) {
    return r ? r.toFixed(2) : "0";
  }

  // Actions ask first when they destroy (herd.ask); Escape closes the
  // confirmation, else the job's detail.
  herd.onEscape = () => { if (!$("job").hidden) closeJob(); };

  async function act(id, action) {
    say(action + " " + id + "…");
    try {
      const r = await herd.post("/api/jobs/" + encodeURIComponent(id) + "/" + action);
      const body = r.body;
      if (!r.ok) {
        say(action + " " + id + ": " + (body.error || r.statusText), true);
        return;
      }
      say(action + " " + id + ": done, " + body.state);
      if (shown === id && (action === "retry" || !jobSource)) openJob(id); // the old stream ended
    } catch (err) {
      say(action + " " + id + ": " + err, true);
    }
  }
  function cancelJob(j) {
    ask("Cancel job " + j.id + " (" + j.kind + ", " + j.state + ")", () => act(j.id, "cancel"));
  }
  // The state buttons, the queue list, and the filter in the URL.
  function drawStates() {
    const counts = {};
    for (const qs of (data && data.queues) || []) {
      counts.queued = (counts.queued || 0) + qs.depth;
      counts.scheduled = (counts.scheduled || 0) + qs.scheduled;
      counts.succeeded = (counts.succeeded || 0) + qs.succeeded;
      counts.failed = (counts.failed || 0) + qs.failed;
      counts.cancelled = (counts.cancelled || 0) + qs.cancelled;
    }
    // The buttons are made once and their labels rewritten, so that a
    // click or the focus is never lost to an update.
    if (!stateButtons) {
      stateButtons = [""].concat(states).map((s) => {
        const b = button(s || "all", s ? "show the " + s + " jobs" : "show every job", () => setFilter({ state: s }));
        b.dataset.state = s;
        return b;
      });
      $("states").replaceChildren(...stateButtons);
    }
    for (const b of stateButtons) {
      const s = b.dataset.state;
      const label = (s || "all") + (counts[s] !== undefined ? " " + counts[s] : "");
      if (b.textContent !== label) b.textContent = label;
      const pressed = String(filter.state === s);
      if (b.getAttribute("aria-pressed") !== pressed) b.setAttribute("aria-pressed", pressed);
    }
  }
  function drawQueueOptions() {
    const sel = $("f-queue");
    const names = ((data && data.queues) || []).map((x) => x.queue);
    if (filter.queue && !names.includes(filter.queue)) names.push(filter.queue);
    const have = [...sel.options].slice(1).map((o) => o.value);
    if (have.join("\n") === names.join("\n")) return;
    sel.replaceChildren(el("option", { value: "" }, "all"), ...names.map((n) => el("option", { value: n }, n)));
    sel.value = filter.queue;
  }
  function query() {
    const p = new URLSearchParams();
    for (const k of filterKeys) if (filter[k]) p.set(k, filter[k]);
    return p.toString();
  }
  function drawOrder() {
    const b = $("order");
    b.textContent = filter.order === "oldest" ? "Oldest first" : "Newest first";
    b.title = filter.order === "oldest" ? "list the newest jobs first" : "list the oldest jobs first";
  }
  function setFilter(change) {
    Object.assign(filter, { cursor: "" }, change);
    const s = query();
    history.replaceState(null, "", "/jobs" + (s ? "?" + s : "") + location.hash);
    drawStates();
    drawOrder();
    connect();
  }
  $("f-queue").addEventListener("change", (e) => setFilter({ queue: e.target.value }));
  let kindTimer = null;
  $("f-kind").addEventListener("input", (e) => {
    clearTimeout(kindTimer);
    kindTimer = setTimeout(() => setFilter({ kind: e.target.value.trim() }), 300);
  });
  $("f-text").addEventListener("input", drawJobs);
  $("next").addEventListener("click", () => setFilter({ cursor: data.next }));
  $("first").addEventListener("click", () => setFilter({ cursor: "" }));
  $("order").addEventListener("click", () => setFilter({ order: filter.order === "oldest" ? "" : "oldest" }));

  function drawQueues() {
    const rows = ((data && data.queues) || []).map((x) => {
      const tr = el("tr", { "data-queue": x.queue });
      tr.append(
        el("td", { class: "name" }, x.queue),
        el("td", { class: "depth num" }, String(x.depth)),
        el("td", { class: "scheduled num" }, String(x.scheduled)),
        el("td", { class: "running num" }, String(x.running)),
        el("td", { class: "succeeded num" }, String(x.succeeded)),
        el("td", { class: "failed num" }, String(x.failed)),
        el("td", { class: "cancelled num" }, String(x.cancelled)),
        el("td", { class: "retried num" }, String(x.retried)),
        el("td", { class: "submit-rate num" }, rate(x.submit_rate)),
        el("td", { class: "complete-rate num" }, rate(x.complete_rate)),
      );
      return tr;
    });
    $("queues").tBodies[0].replaceChildren(...rows);
    $("no-queues").hidden = rows.length > 0;
  }
  // A job's row, kept by ID from one update to the next: its cells are
  // rewritten where they changed, and its buttons stay the same elements
  // (its actions are made again only when its state changes), so a click
  // in progress or the focus is never lost to an update.
  const jobRows = new Map();
  function jobRow(j) {
    let r = jobRows.get(j.id);
    if (!r) {
      const tr = el("tr", { "data-id": j.id });
      const open = button(j.id, "show job " + j.id, () => openJob(j.id));
      open.className = "link id";
      const tds = [];
      for (let k = 0; k < 10; k++) tds.push(el("td"));
      tds[0].append(open);
      const bar = el("progress", { max: "1" });
      tds[6].append(bar, "");
      tr.append(...tds);
      r = { tr, tds, bar, state: null };
      jobRows.set(j.id, r);
    }
    const t = r.tds;
    const cls = j.id === shown ? "selected" : "";
    if (r.tr.className !== cls) r.tr.className = cls;
    if (r.tr.dataset.state !== j.state) r.tr.dataset.state = j.state;
    set(t[1], "kind", j.kind);
    set(t[2], "queue", j.queue);
    set(t[3], "priority", j.priority);
    set(t[4], "state st-" + j.state, j.state + (j.state === "scheduled" && j.run_at ? " for " + when(j.run_at) : ""));
    attr(t[4], "title", j.error || j.note || "");
    set(t[5], "attempt num", j.attempt + "/" + j.max_attempts);
    if (t[6].className !== "progress") t[6].className = "progress";
    attr(r.bar, "value", String(j.progress || 0));
    const pct = " " + Math.round((j.progress || 0) * 100) + "%";
    if (t[6].lastChild.textContent !== pct) t[6].lastChild.textContent = pct;
    set(t[7], "created", ago(j.created));
    attr(t[7], "title", when(j.created));
    set(t[8], "took num", took(j));
    if (r.state !== j.state) {
      r.state = j.state;
      const acts = el("td", { class: "actions" });
      if (!finals[j.state]) acts.append(button("Cancel", "cancel job " + j.id, () => cancelJob(r.job)));
      if (j.state === "failed" || j.state === "cancelled") acts.append(button("Retry", "retry job " + j.id, () => act(j.id, "retry")));
      t[9].replaceWith(acts);
      t[9] = acts;
    }
    r.job = j;
    return r;
  }
  function attr(e, name, value) {
    if (e.getAttribute(name) !== value) e.setAttribute(name, value);
  }
  function drawJobs() {
    const text = $("f-text").value.toLowerCase();
    const list = ((data && data.jobs) || []).filter((j) => !text ||
      [j.id, j.kind, j.note || "", j.error || ""].some((v) => v.toLowerCase().includes(text)));
    const rows = list.map((j) => jobRow(j).tr);
    const listed = new Set(list.map((j) => j.id));
    for (const id of jobRows.keys()) if (!listed.has(id)) jobRows.delete(id);
    placeRows($("jobs").tBodies[0], rows);
    $("no-jobs").hidden = rows.length > 0;
    $("next").hidden = !(data && data.next);
    $("first").hidden = !filter.cursor;
    if (window.herdFirstRender === undefined) window.herdFirstRender = performance.now();
    window.herdDraws = (window.herdDraws || 0) + 1; // the script's draws, for tests
  }
  function update(d) {
    data = d;
    if (d.error) say("jobs API: " + d.error, true);
    else if ($("msg").textContent.startsWith("jobs API: ")) say("");
    drawStates();
    drawQueueOptions();
    drawQueues();
    drawJobs();
  }

  function connect() {
    if (listSource) listSource.close();
    listSource = herd.stream("/api/jobs/stream?" + query(), { jobs: update }, true);
  }

  // The detail pane of one job, live until its final state.
  function field(dl, name, value, cls) {
    if (value === undefined || value === null || value === "") return;
    dl.append(el("dt", {}, name), el("dd", { class: cls || "" }, String(value)));
  }
  function drawJob(j) {
    const dl = $("job-fields");
    dl.replaceChildren();
    field(dl, "Kind", j.kind, "kind");
    field(dl, "Queue", j.queue, "queue");
    field(dl, "Priority", j.priority, "priority");
    field(dl, "State", j.state, "state st-" + j.state);
    field(dl, "Attempt", j.attempt + " of " + j.max_attempts, "attempts");
    field(dl, "Worker", j.worker, "worker");
    field(dl, "Submitted", when(j.created && Date.parse(j.created)), "created");
    field(dl, "Runs at", when(j.run_at && Date.parse(j.run_at)), "run-at");
    field(dl, "Started", when(j.started && Date.parse(j.started)), "started");
    field(dl, "Finished", when(j.finished && Date.parse(j.finished)), "finished");
    $("job-progress").value = j.progress || 0;
    $("job-note").textContent = Math.round((j.progress || 0) * 100) + "%" + (j.note ? ": " + j.note : "");
    $("job-args").textContent = pretty(j.args_text) || "(none)";
    $("job-result-box").hidden = !j.result_text;
    $("job-result").textContent = pretty(j.result_text);
    $("job-result-size").textContent = j.result_bytes ? "(" + j.result_bytes + " bytes" + (j.result_text.endsWith("…") ? ", cut" : "") + ")" : "";
    $("job-error-box").hidden = !j.error;
    $("job-error").textContent = j.error || "";
    $("job-cancel").hidden = j.final;
    $("job-retry").hidden = !(j.state === "failed" || j.state === "cancelled");
    $("job").dataset.state = j.state;
  }
  function pretty(text) {
    if (!text) return "";
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; }
  }
  let current = null;
  function openJob(id) {
    if (jobSource) jobSource.close();
    jobSource = null;
    if (shown !== id) {
      current = null;
      $("job-fields").replaceChildren();
      $("job-args").textContent = "";
      $("job-result-box").hidden = true;
      $("job-error-box").hidden = true;
    }
    shown = id;
    $("job-id").textContent = id;
    $("job").hidden = false;
    history.replaceState(null, "", location.pathname + location.search + "#" + encodeURIComponent(id));
    drawJobs();
    const ended = (es) => { es.close(); if (jobSource === es) jobSource = null; };
    jobSource = herd.stream("/api/jobs/" + encodeURIComponent(id) + "/events", {
      job: (j) => { current = j; drawJob(current); },
      end: (_, es) => ended(es),
      failure: (f, es) => { ended(es); say(f.error, true); },
    });
    $("job-close").focus();
  }
  function closeJob() {
    if (jobSource) jobSource.close();
    jobSource = null;
    shown = null;
    $("job").hidden = true;
    history.replaceState(null, "", location.pathname + location.search);
    drawJobs();
  }
  $("job-close").addEventListener("click", closeJob);
  $("job-cancel").addEventListener("click", () => { if (current) cancelJob(current); });
  $("job-retry").addEventListener("click", () => { if (current) act(current.id, "retry"); });

  // The page comes with the queues and the first page of jobs, drawn by
  // the server (render.go), so that its first paint shows them without
  // this script. Once that paint is out, they are drawn again from the
  // same data, now with their actions, and the stream keeps them live.
  const initial = herd.initial();
  if (initial && window.herdFirstRender === undefined) window.herdFirstRender = performance.now();
  herd.afterFirstPaint(() => {
    $("f-kind").value = filter.kind;
    drawOrder();
    if (initial) update(initial);
    else drawStates();
    connect();
    if (location.hash.length > 1) openJob(decodeURIComponent(location.hash.slice(1)));
  });
})();
