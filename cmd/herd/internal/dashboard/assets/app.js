// herd dashboard: the apps page. One EventSource keeps it live; actions
// are POSTs with the page's CSRF value (common.js: herd).
"use strict";
(function () {
  const { $, el, button, say, ask, setCell: set, placeRows } = herd;
  const tbody = document.querySelector("#apps tbody");
  const rings = {}; // "app/slot" -> [{t, cpu, mem}]
  const maxSamples = 150;
  let apps = [];
  let logSource = null;

  function dur(ms) {
    if (!ms) return "-";
    const s = Math.floor(ms / 1000);
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
    if (s < 172800) return Math.floor(s / 3600) + "h" + String(Math.floor(s / 60) % 60).padStart(2, "0") + "m";
    return Math.floor(s / 86400) + "d";
  }
  function bytes(n) {
    if (n >= 1 << 30) return (n / (1 << 30)).toFixed(1) + " GiB";
    if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MiB";
    if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + " KiB";
    return n + " B";
  }
  function chart(cls, samples, key, label) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "chart " + cls);
    svg.setAttribute("viewBox", "0 0 90 20");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    const vals = samples.map((s) => s[key]);
    const hi = Math.max(1e-9, ...vals);
    const step = vals.length > 1 ? 90 / (maxSamples - 1) : 0;
    const x0 = 90 - step * (vals.length - 1);
    const pts = vals.map((v, i) => (x0 + i * step).toFixed(1) + "," + (19 - (v / hi) * 18).toFixed(1)).join(" ");
    const pl = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    pl.setAttribute("points", pts);
    svg.appendChild(pl);
    const t = document.createElementNS("http://www.w3.org/2000/svg", "title");
    t.textContent = label;
    svg.appendChild(t);
    return svg;
  }
  // Actions ask first (herd.ask); Yes runs, No or Escape cancels.
  async function act(app, action, query) {
    say(action + " " + app + "…");
    try {
      const r = await herd.post("/api/apps/" + encodeURIComponent(app) + "/" + action + (query || ""));
      const body = r.body;
      if (!r.ok) {
        const errs = (body.results || []).filter((x) => !x.ok).map((x) => x.error);
        say(errs.length ? errs.join("; ") : body.error || r.statusText, true);
        return;
      }
      say(action + " " + app + ": done");
    } catch (err) {
      say(action + " " + app + ": " + err, true);
    }
  }

  // The buttons of an app's row. They read the app at the click (r.app,
  // the last update), so they stay the same elements while the row is
  // live; only a stop or start changes the set (Start for Stop).
  function actions(r) {
    const td = el("td", { class: "actions" });
    const a = r.app;
    const stopped = a.status === "stopped" || a.status === "errored";
    td.append(
      button("Restart", "restart " + a.name, () => ask((r.stopped ? "Start " : "Restart ") + a.name, () => act(a.name, "restart"))),
      button("Reload", "rolling reload of " + a.name, () => ask("Reload " + a.name + " (one instance at a time)", () => act(a.name, "reload"))),
      stopped
        ? button("Start", "start " + a.name, () => act(a.name, "start"))
        : button("Stop", "stop " + a.name, () => ask("Stop " + a.name, () => act(a.name, "stop"))),
      button("+", "one instance more", () => act(a.name, "scale", "?n=%2B1")),
      button("−", "one instance less", () => ask("Scale " + a.name + " down to " + (r.app.instances - 1), () => act(a.name, "scale", "?n=-1"))),
      button("Logs", "show the logs of " + a.name, () => showLogs(a.name)),
    );
    return td;
  }

  // The table's rows by key ("app", or "app/slot" for an instance), kept
  // from one update to the next: a row, its cells and its buttons stay the
  // same elements and only changed text is written, so a click in
  // progress, the keyboard focus or a text selection is never lost to the
  // once-a-second redraw.
  const rowOf = new Map();
  function row(key, attrs, n) {
    let r = rowOf.get(key);
    if (!r) {
      r = { tr: el("tr", attrs), tds: [] };
      for (let k = 0; k < n; k++) r.tds.push(el("td"));
      r.tr.append(...r.tds);
      rowOf.set(key, r);
    }
    return r;
  }
  function render() {
    const rows = [];
    const live = new Set();
    for (const a of apps) {
      const r = row(a.name, { "data-app": a.name, class: "app" }, 9);
      r.app = a;
      const t = r.tds;
      set(t[0], "name", a.name);
      set(t[1], "status st-" + a.status, a.status + (a.error ? ": " + a.error : ""));
      set(t[2], "inst num", a.live.length + "/" + a.instances);
      set(t[3], "uptime num", dur(a.uptime_ms));
      set(t[4], "restarts num", String(a.restarts));
      set(t[5], "cpu num", a.cpu.toFixed(1) + "%");
      set(t[6], "mem num", bytes(a.memory));
      const stopped = a.status === "stopped" || a.status === "errored";
      if (r.stopped !== stopped) {
        r.stopped = stopped;
        const td = actions(r);
        t[8].replaceWith(td);
        t[8] = td;
      }
      rows.push(r.tr);
      live.add(a.name);
      for (const i of a.live) {
        const key = a.name + "/" + i.slot;
        const ir = row(key, { "data-app": a.name, "data-slot": String(i.slot), class: "inst" }, 9);
        const it = ir.tds;
        set(it[0], "name", "#" + i.slot + " pid " + i.pid);
        set(it[1], "status st-" + i.state, i.state);
        set(it[3], "uptime num", dur(i.uptime_ms));
        set(it[4], "restarts num", String(i.restarts));
        set(it[5], "cpu num", i.cpu.toFixed(1) + "%");
        set(it[6], "mem num", bytes(i.memory));
        // A chart needs two samples: until the history comes, the cell
        // keeps its width (style.css), as the server draws it.
        const h = rings[key] || [];
        if (it[7].className !== "charts") it[7].className = "charts";
        it[7].replaceChildren(...(h.length > 1 ? [chart("cpu", h, "cpu", "CPU of " + key), chart("mem", h, "mem", "memory of " + key)] : []));
        rows.push(ir.tr);
        live.add(key);
      }
    }
    for (const k of rowOf.keys()) if (!live.has(k)) rowOf.delete(k);
    placeRows(tbody, rows);
    $("empty").hidden = apps.length > 0;
    if (window.herdFirstRender === undefined) window.herdFirstRender = performance.now();
    window.herdDraws = (window.herdDraws || 0) + 1; // the script's draws, for tests
  }

  function connect() {
    herd.stream("/api/stream", { history: history, apps: update }, true);
  }
  function history(h) {
    for (const k in h) rings[k] = h[k];
  }
  function update(d) {
    apps = d.apps;
    const live = {};
    for (const a of apps) for (const i of a.live) {
      const k = a.name + "/" + i.slot;
      live[k] = true;
      const r = (rings[k] = rings[k] || []);
      if (!r.length || r[r.length - 1].t < d.t) r.push({ t: d.t, cpu: i.cpu, mem: i.memory });
      if (r.length > maxSamples) r.splice(0, r.length - maxSamples);
    }
    for (const k in rings) if (!live[k]) delete rings[k];
    render();
  }

  // The log tail of one app, with a filter.
  let lines = [];
  function drawLogs() {
    const f = $("logs-filter").value.toLowerCase();
    const pre = $("logs-lines");
    const shown = lines.filter((l) => !f || l.msg.toLowerCase().includes(f)).slice(-300);
    pre.replaceChildren(...shown.map((l) => {
      const prefix = l.instance < 0 ? "herd " + l.app : l.app + "[" + l.instance + "]";
      return el("div", { class: l.stream === "stderr" ? "err" : "" }, prefix + " | " + l.msg);
    }));
    pre.scrollTop = pre.scrollHeight;
  }
  function showLogs(app) {
    if (logSource) logSource.close();
    lines = [];
    $("logs").hidden = false;
    $("logs-app").textContent = app;
    drawLogs();
    logSource = herd.stream("/api/logs?app=" + encodeURIComponent(app), {
      line: (l) => {
        lines.push(l);
        if (lines.length > 1000) lines.splice(0, lines.length - 1000);
        drawLogs();
      },
      failure: (f) => say(f.error, true),
    });
    $("logs-filter").focus();
  }
  $("logs-filter").addEventListener("input", drawLogs);
  $("logs-close").addEventListener("click", () => { if (logSource) logSource.close(); logSource = null; $("logs").hidden = true; });

  // The page comes with the last list, its rows drawn by the server
  // (render.go), so that its first paint shows the apps without this
  // script. Once that paint is out, the rows are drawn again from the same
  // list, now with their actions, and the stream keeps them live.
  const initial = herd.initial();
  if (initial.apps && window.herdFirstRender === undefined) window.herdFirstRender = performance.now();
  herd.afterFirstPaint(() => {
    if (initial.apps) update(initial.apps);
    connect();
  });
})();
