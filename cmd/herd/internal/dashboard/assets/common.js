// herd dashboard: what every page shares, as the global herd: building
// elements, the message line, the confirmation of an action, POSTs with
// the page's CSRF value, and event streams that keep the header's
// indicator (live or reconnecting). The page's own script follows it.
"use strict";
const herd = (function () {
  const csrf = document.querySelector('meta[name="herd-csrf"]').content;
  const $ = (id) => document.getElementById(id);
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function button(label, title, onClick) {
    const b = el("button", { type: "button", title: title }, label);
    b.addEventListener("click", onClick);
    return b;
  }
  function say(text, bad) {
    const m = $("msg");
    m.textContent = text;
    m.className = bad ? "bad" : "";
  }

  // Actions that destroy ask first; Yes runs, No or Escape cancels. With
  // no confirmation open, Escape calls the page's onEscape.
  let pending = null;
  const api = { onEscape: null };
  function ask(question, run) {
    pending = run;
    $("confirm-q").textContent = question + "?";
    $("confirm").hidden = false;
    $("confirm-yes").focus();
  }
  function closeConfirm() {
    pending = null;
    $("confirm").hidden = true;
  }
  $("confirm-yes").addEventListener("click", () => { const run = pending; closeConfirm(); if (run) run(); });
  $("confirm-no").addEventListener("click", closeConfirm);
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    if (!$("confirm").hidden) closeConfirm();
    else if (api.onEscape) api.onEscape();
  });

  // post sends a POST with the CSRF value and returns the answer: ok, and
  // the JSON body ({} when there is none).
  async function post(path) {
    const r = await fetch(path, { method: "POST", headers: { "X-Herd-CSRF": csrf }, credentials: "same-origin" });
    let body = {};
    try { body = await r.json(); } catch (e) { body = { error: r.statusText }; }
    return { ok: r.ok, statusText: r.statusText, body: body };
  }

  // stream opens an event stream, calls handlers[name] with the parsed
  // data of each event of that name, and shows in the header whether the
  // page is live. Only the page's main stream (live) drives the header.
  function stream(url, handlers, live) {
    const es = new EventSource(url);
    if (live) {
      es.addEventListener("open", () => { $("conn").textContent = "live"; $("conn").className = "conn on"; });
      es.addEventListener("error", () => { $("conn").textContent = "reconnecting…"; $("conn").className = "conn off"; });
    }
    for (const name in handlers) es.addEventListener(name, (e) => handlers[name](JSON.parse(e.data), es));
    return es;
  }

  // initial is the data the page came with (null when it has none).
  function initial() {
    return JSON.parse($("herd-initial").textContent);
  }

  // afterFirstPaint runs fn once the page's first contentful paint is on
  // the screen (the server drew what it shows), so that nothing fn does
  // (drawing the rows again with their actions, opening a stream and
  // taking its first events) holds the main thread, the network or the
  // CPU before it. Where paint timing is not reported, fn runs after the
  // first frame; and after a second in any case (a page opened in the
  // background paints only once shown).
  function afterFirstPaint(fn) {
    let done = false;
    const run = () => { if (!done) { done = true; fn(); } };
    try {
      new PerformanceObserver((list, obs) => {
        if (list.getEntriesByName("first-contentful-paint").length) { obs.disconnect(); run(); }
      }).observe({ type: "paint", buffered: true });
    } catch (e) {
      requestAnimationFrame(() => setTimeout(run, 0));
    }
    setTimeout(run, 1000);
  }

  // Rows kept from one update to the next (the pages keep them by key):
  // setCell writes a cell's class and text only where they changed, and
  // placeRows puts rows in body in order, moving only those out of place,
  // and drops the rest (gone rows, and the server-drawn first view). An
  // update so never replaces the element under the pointer or the focus.
  function setCell(td, cls, text) {
    if (td.className !== cls) td.className = cls;
    if (td.textContent !== text) td.textContent = text;
  }
  function placeRows(body, rows) {
    rows.forEach((tr, n) => {
      if (body.children[n] !== tr) body.insertBefore(tr, body.children[n] || null);
    });
    while (body.children.length > rows.length) body.lastElementChild.remove();
  }

  return Object.assign(api, { $: $, el: el, button: button, say: say, ask: ask, post: post, stream: stream, initial: initial, afterFirstPaint: afterFirstPaint,
    setCell: setCell, placeRows: placeRows });
})();
