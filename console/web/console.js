// Watchfloor analyst console: the alert queue kept live by the wall's stream, actions on
// alerts, devices with their charts, flows, rules, on-call, the audit log, silences and the
// monthly reports. No framework,
// no network but this server; every text from the server is set with textContent.
"use strict";

const TOKEN_KEY = "watchfloor.token"; // shared with the wall
const SEVERITY = ["info", "low", "medium", "high", "critical"];
const SEV_SHORT = { info: "info", low: "low", medium: "med", high: "high", critical: "crit" };
const ROLES = ["none", "viewer", "analyst", "admin"];
const TACTICS = ["reconnaissance", "resource-development", "initial-access", "execution", "persistence",
  "privilege-escalation", "defense-evasion", "credential-access", "discovery", "lateral-movement", "collection",
  "command-and-control", "exfiltration", "impact"];
const FLOW_DIMS = ["src", "dst", "pair", "port", "proto", "as", "dst_as", "interface"];
const AUDIT_ACTIONS = ["alert.ack", "alert.resolve", "alert.assign", "alert.comment", "silence.add", "silence.delete",
  "login", "logout", "user.add", "user.passwd", "user.delete", "token.add", "token.revoke", "backup", "report.generate", "forbidden"];
const RANGES = { "1h": { from: "-1h", label: "hour" }, "24h": { from: "-24h", label: "day" }, "168h": { from: "-168h", label: "week" } };

const auth = { token: null, csrf: "", name: "", role: "viewer", via: "" };
const state = {
  alerts: new Map(), selected: 0, sort: { key: "severity", desc: true }, site: "",
  live: false, detail: null, history: [], view: "alerts", range: "1h",
  open: new Set(), openHidden: 0, // the open alerts the stream told of, for the tab's count
};

// ---- helpers ---------------------------------------------------------------
const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

const SVG_NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

const two = (n) => String(n).padStart(2, "0");
function fmtTime(s) {
  const d = new Date(s);
  if (!s || isNaN(d) || d.getFullYear() < 1971) return "–";
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}
function age(s) {
  const t = Date.parse(s);
  if (!(t > 0)) return "–";
  const sec = Math.max(0, (Date.now() - t) / 1000);
  const d = Math.floor(sec / 86400), h = Math.floor(sec % 86400 / 3600), m = Math.floor(sec % 3600 / 60);
  return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m` : `${Math.floor(sec)}s`;
}
function si(v, unit) {
  const units = ["", "k", "M", "G", "T", "P"];
  v = Number(v) || 0;
  let i = 0;
  while (Math.abs(v) >= 999.95 && i < units.length - 1) { v /= 1000; i++; }
  return (i === 0 || Math.abs(v) >= 99.95 ? v.toFixed(0) : v.toFixed(1)) + " " + units[i] + unit;
}
const sevRank = (s) => Math.max(0, SEVERITY.indexOf(s));
const hasRole = (min) => ROLES.indexOf(auth.role) >= ROLES.indexOf(min);
function entityText(a) {
  const e = a.entity || {};
  return [e.device && e.interface ? `${e.device} ${e.interface}` : e.device, e.host, e.site].filter(Boolean).join(" · ");
}
function tacticsOf(a) {
  const out = [];
  for (const t of a.tags || []) {
    const m = /^attack\.(.+)$/i.exec(t);
    if (!m) continue;
    const n = m[1].toLowerCase().replaceAll("_", "-");
    if (TACTICS.includes(n) && !out.includes(n)) out.push(n);
  }
  return out;
}
function techniqueURL(t) {
  const m = /^T(\d{4})(?:\.(\d{3}))?$/i.exec(t);
  if (!m) return null;
  return `https://attack.mitre.org/techniques/T${m[1]}/` + (m[2] ? `${m[2]}/` : "");
}

// ---- errors ----------------------------------------------------------------
// showError puts a message at the top of the page until it is dismissed: nothing the
// server refuses is swallowed.
function showError(what, err) {
  const msg = `${what}: ${err && err.message ? err.message : err}`;
  console.error(msg);
  const box = $("errors");
  const item = el("div", { class: "error" }, el("span", {}, msg),
    el("button", { type: "button", class: "ghost", "aria-label": "dismiss", onclick: () => item.remove() }, "×"));
  box.append(item);
  while (box.children.length > 4) box.firstElementChild.remove();
}

// ---- API -------------------------------------------------------------------
class APIError extends Error {
  constructor(status, message, field) { super(message); this.status = status; this.field = field; }
}

// api calls the console's API with the page's credentials: the bearer token when the page
// was opened with one, the session cookie otherwise, and the CSRF header on every change.
async function api(method, path, body) {
  const headers = {};
  if (auth.token) headers.Authorization = "Bearer " + auth.token;
  if (method !== "GET" && auth.csrf) headers["X-CSRF-Token"] = auth.csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let r;
  try {
    r = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new APIError(0, "the server cannot be reached");
  }
  if (r.status === 204) return null;
  let v = null;
  try { v = await r.json(); } catch (_) { /* not JSON */ }
  if (r.status === 401) { toLogin(); throw new APIError(401, "not logged in"); }
  if (!r.ok) {
    const msg = v && v.error ? v.error : `HTTP ${r.status}`;
    throw new APIError(r.status, (v && v.field ? `${v.field}: ` : "") + msg + (r.status === 403 ? " (forbidden)" : ""), v && v.field);
  }
  return v;
}

function toLogin() {
  if (auth.token) {
    sessionStorage.removeItem(TOKEN_KEY);
    auth.token = null;
  }
  location.href = "/login?next=" + encodeURIComponent("/console" + location.hash);
}

// ---- auth ------------------------------------------------------------------
function takeToken() {
  const url = new URL(location.href);
  const t = url.searchParams.get("token");
  if (t) {
    sessionStorage.setItem(TOKEN_KEY, t);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

// whoAmI asks GET /api/v1/session who this page is: a cookie session (with its CSRF token)
// or the token it was opened with. Without either it goes to the login page.
async function whoAmI() {
  auth.token = takeToken();
  const headers = auth.token ? { Authorization: "Bearer " + auth.token } : {};
  let r;
  try {
    r = await fetch("api/v1/session", { headers, credentials: "same-origin" });
  } catch (err) {
    throw new APIError(0, "the server cannot be reached");
  }
  if (r.status === 401) { toLogin(); return false; }
  if (r.status === 404 && auth.token) {
    // A server without sessions: the one API token is the admin.
    Object.assign(auth, { name: "admin", role: "admin", via: "token" });
    return true;
  }
  if (!r.ok) throw new APIError(r.status, `session: HTTP ${r.status}`);
  const s = await r.json();
  auth.name = s.user || s.name || "";
  auth.role = s.role || "viewer";
  auth.via = s.via || "";
  auth.csrf = s.csrf || "";
  return true;
}

function applyRole() {
  document.body.dataset.role = auth.role;
  $("who").replaceChildren(el("span", { class: "name" }, auth.name), el("span", { class: "role" }, auth.role));
  $("logout").hidden = auth.via !== "session";
  for (const e of document.querySelectorAll("[data-min-role]")) e.hidden = !hasRole(e.dataset.minRole);
}

async function logout() {
  try { await api("POST", "api/v1/logout"); } catch (err) { if (err.status !== 401) { showError("log out", err); return; } }
  location.href = "/login";
}

// ---- stream ----------------------------------------------------------------
let ws = null, retry = 0, retryTimer = 0, renderQueued = false;

function connect() {
  const url = new URL("api/v1/stream", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  if (auth.token) url.searchParams.set("token", auth.token);
  ws = new WebSocket(url);
  ws.onmessage = (ev) => {
    retry = 0;
    let msg;
    try { msg = JSON.parse(ev.data); } catch (err) { console.error("console: bad message", err); return; }
    handle(msg);
  };
  ws.onclose = () => {
    state.live = false;
    setConn("reconnecting", "reconnecting");
    const delay = Math.min(30000, 1000 * 2 ** retry) * (0.75 + Math.random() / 2);
    retry = Math.min(retry + 1, 5);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, delay);
  };
}

function setConn(cls, text) {
  $("conn").className = "conn " + cls;
  $("conn-text").textContent = text;
  document.body.classList.remove("connecting");
}

function handle(msg) {
  switch (msg.type) {
    case "snapshot":
      state.live = true;
      setConn("live", "live");
      if (msg.site) { state.site = msg.site; $("site").textContent = msg.site; }
      state.open = new Set((msg.alerts || []).map((a) => a.id));
      state.openHidden = Math.max(0, (msg.alerts_open || 0) - state.open.size);
      showOpenCount();
      loadAlerts(); // the queue may have missed changes while the stream was down
      break;
    case "alert":
      alertChanged(msg.alert);
      break;
  }
}

// alertChanged applies a change of an alert from the stream: the row follows it, in or out
// of the queue as the filters say; the open detail reloads.
function alertChanged(a) {
  if (!a || !a.id) return;
  if (a.state === "firing" || a.state === "acknowledged") state.open.add(a.id);
  else if (!state.open.delete(a.id) && state.openHidden > 0) state.openHidden--;
  showOpenCount();
  const old = state.alerts.get(a.id);
  if (matches(a)) state.alerts.set(a.id, Object.assign({}, old || {}, a));
  else state.alerts.delete(a.id);
  if (state.detail && state.detail.id === a.id) loadDetail(a.id, true);
  scheduleRender();
}

function showOpenCount() {
  const n = state.open.size + state.openHidden;
  $("open-count").textContent = n ? String(n) : "";
}

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; renderQueue(); });
}

// ---- the queue -------------------------------------------------------------
function filters() {
  return {
    state: $("f-state").value, severity: $("f-severity").value, site: $("f-site").value,
    category: $("f-category").value, tactic: $("f-tactic").value, text: $("f-text").value.trim().toLowerCase(),
  };
}

// matches applies the filters to an alert the way the API does, and the text search.
function matches(a) {
  const f = filters();
  if (f.state === "open" ? !(a.state === "firing" || a.state === "acknowledged") : f.state && a.state !== f.state) return false;
  if (f.severity && sevRank(a.severity) < sevRank(f.severity)) return false;
  if (f.site && (a.entity || {}).site !== f.site) return false;
  if (f.category && a.category !== f.category) return false;
  if (f.tactic && !tacticsOf(a).includes(f.tactic)) return false;
  if (f.text) {
    const hay = [a.title, a.rule, a.rule_title, a.key, entityText(a), a.assignee, a.acked_by, String(a.id)].join(" ").toLowerCase();
    if (!hay.includes(f.text)) return false;
  }
  return true;
}

let loadSeq = 0;
async function loadAlerts() {
  const f = filters();
  const q = new URLSearchParams({ limit: "1000" });
  for (const k of ["state", "severity", "site", "category", "tactic"]) if (f[k]) q.set(k, f[k]);
  const seq = ++loadSeq;
  try {
    const v = await api("GET", "api/v1/alerts?" + q);
    if (seq !== loadSeq) return; // a newer load is on its way
    state.alerts = new Map(v.alerts.filter(matches).map((a) => [a.id, a]));
    for (const a of v.alerts) addSite(a);
    renderQueue();
    if (!state.selected && state.view === "alerts") {
      const first = sortedAlerts()[0];
      if (first) select(first.id, false);
    }
  } catch (err) { showError("load the alerts", err); }
}

function addSite(a) {
  const s = (a.entity || {}).site;
  if (!s) return;
  const sel = $("f-site");
  if ([...sel.options].some((o) => o.value === s)) return;
  sel.append(el("option", { value: s }, s));
}

function sortedAlerts() {
  const { key, desc } = state.sort;
  const val = (a) => key === "severity" ? sevRank(a.severity) : key === "entity" ? entityText(a)
    : key === "started_at" || key === "updated_at" ? -(Date.parse(a[key]) || 0) : a[key] ?? "";
  const list = [...state.alerts.values()];
  list.sort((a, b) => {
    const x = val(a), y = val(b);
    let c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    if (desc) c = -c;
    return c || b.id - a.id;
  });
  return list;
}

function renderQueue() {
  const list = sortedAlerts();
  const body = $("queue-body");
  const rows = list.map((a) => {
    const muted = a.suppressed_by || a.silenced;
    const stateText = a.state === "acknowledged" ? `ack ${a.acked_by || ""}`.trim() : a.state;
    const tr = el("tr", {
      class: `al ${a.severity} ${a.state}${muted ? " muted" : ""}${a.id === state.selected ? " selected" : ""}`,
      "data-id": a.id, tabindex: "-1", "aria-selected": a.id === state.selected ? "true" : "false",
    },
    el("td", { class: "sev" }, el("span", { class: "shape", "aria-hidden": "true" }), SEV_SHORT[a.severity] || a.severity),
    el("td", { class: "num" }, a.id),
    el("td", { class: "title" }, a.title || a.rule_title || a.rule,
      a.silenced ? el("span", { class: "chip" }, "silenced") : null,
      a.suppressed_by ? el("span", { class: "chip" }, `suppressed by #${a.suppressed_by}`) : null,
      a.flapping ? el("span", { class: "chip" }, "flapping") : null),
    el("td", { class: "where" }, entityText(a)),
    el("td", { class: "st" }, stateText),
    el("td", { class: "assignee" }, a.assignee || ""),
    el("td", { class: "num age" }, age(a.started_at)),
    el("td", { class: "num" }, age(a.updated_at)));
    tr.addEventListener("click", () => select(a.id, true));
    return tr;
  });
  body.replaceChildren(...rows);
  $("queue-empty").hidden = list.length > 0;
  const open = list.filter((a) => a.state !== "resolved").length;
  $("queue-count").textContent = `${list.length} alert${list.length === 1 ? "" : "s"} · ${open} open · ${state.live ? "live" : "not live"}`;
  for (const th of document.querySelectorAll("#queue th")) {
    th.classList.toggle("sorted", th.dataset.sort === state.sort.key);
    th.classList.toggle("desc", th.dataset.sort === state.sort.key && state.sort.desc);
  }
}

function select(id, open) {
  state.selected = id;
  for (const tr of document.querySelectorAll("#queue-body tr")) {
    const on = Number(tr.dataset.id) === id;
    tr.classList.toggle("selected", on);
    tr.setAttribute("aria-selected", on ? "true" : "false");
    if (on) tr.scrollIntoView({ block: "nearest" });
  }
  if (open !== false || !state.detail) {
    if (location.hash !== `#/alert/${id}`) history.replaceState(null, "", `#/alert/${id}`);
    loadDetail(id, false);
  }
}

function move(delta) {
  const list = sortedAlerts();
  if (!list.length) return;
  let i = list.findIndex((a) => a.id === state.selected);
  i = i < 0 ? 0 : Math.max(0, Math.min(list.length - 1, i + delta));
  select(list[i].id, true);
}

// ---- the alert detail ------------------------------------------------------
let detailSeq = 0;
async function loadDetail(id, keepForms) {
  const seq = ++detailSeq;
  try {
    const [a, h] = await Promise.all([api("GET", `api/v1/alerts/${id}`), api("GET", `api/v1/alerts/${id}/history`)]);
    if (seq !== detailSeq) return;
    state.detail = a;
    state.history = h.history || [];
    if (state.alerts.has(a.id) || matches(a)) { state.alerts.set(a.id, a); scheduleRender(); }
    renderDetail(keepForms);
  } catch (err) {
    if (seq === detailSeq) showError(`load alert ${id}`, err);
  }
}

function section(title, ...body) {
  return el("section", { class: "block" }, el("h3", {}, title), ...body);
}

function renderDetail(keepForms) {
  const a = state.detail;
  const box = $("detail");
  const kept = keepForms ? { assign: $("d-assignee")?.value, comment: $("d-comment")?.value } : {};
  const open = a.state !== "resolved";
  const can = hasRole("analyst");
  const head = el("div", { class: `d-head al ${a.severity} ${a.state}` },
    el("div", { class: "d-sev sev" }, el("span", { class: "shape", "aria-hidden": "true" }), a.severity),
    el("h2", { id: "d-title" }, a.title || a.rule_title || a.rule),
    el("div", { class: "d-meta" },
      el("span", { class: "pill state-" + a.state, id: "d-state" }, a.state),
      a.assignee ? el("span", { class: "pill" }, "assigned to ", el("b", { id: "d-assignee-now" }, a.assignee)) : el("span", { class: "pill dim" }, "unassigned"),
      a.silenced ? el("span", { class: "pill dim" }, `silenced (${a.silence_id || "?"})`) : null,
      a.flapping ? el("span", { class: "pill warn" }, "flapping") : null,
      el("span", { class: "dim" }, `#${a.id} · ${a.rule} · ×${a.count}`)));

  const actions = el("div", { class: "actions", "data-min-role": "analyst" },
    el("button", { type: "button", id: "act-ack", disabled: !(can && a.state === "firing"), onclick: () => act("ack", a.id) }, el("kbd", {}, "a"), " Acknowledge"),
    el("button", { type: "button", id: "act-resolve", class: "danger", disabled: !(can && open), onclick: () => act("resolve", a.id) }, el("kbd", {}, "R"), " Resolve"),
    el("button", { type: "button", id: "act-silence", disabled: !can, onclick: () => openSilence(a) }, el("kbd", {}, "s"), " Silence…"));
  const assign = el("form", { class: "inline", id: "assign-form", "data-min-role": "analyst" },
    el("label", { for: "d-assignee" }, el("kbd", {}, "i"), " Assign to"),
    el("input", { id: "d-assignee", name: "assignee", size: "16", maxlength: "64", placeholder: auth.name || "user", value: kept.assign ?? a.assignee ?? "", disabled: !(can && open) }),
    el("button", { type: "submit", disabled: !(can && open) }, "Assign"),
    el("button", { type: "button", class: "ghost", disabled: !(can && open), onclick: () => { $("d-assignee").value = auth.name; assignSubmit(a.id); } }, "Take it"));
  assign.addEventListener("submit", (ev) => { ev.preventDefault(); assignSubmit(a.id); });
  const comment = el("form", { class: "stack", id: "comment-form", "data-min-role": "analyst" },
    el("label", { for: "d-comment" }, el("kbd", {}, "c"), " Comment"),
    el("textarea", { id: "d-comment", rows: "2", maxlength: "4096", placeholder: "what you found, what you did", disabled: !can }),
    el("button", { type: "submit", disabled: !can }, "Add comment"));
  comment.querySelector("textarea").value = kept.comment || "";
  comment.addEventListener("submit", (ev) => { ev.preventDefault(); commentSubmit(a.id); });
  comment.querySelector("textarea").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); commentSubmit(a.id); }
  });

  const e = a.entity || {};
  const where = el("dl", { class: "kv" },
    e.site ? [el("dt", {}, "site"), el("dd", {}, e.site)] : null,
    e.device ? [el("dt", {}, "device"), el("dd", {}, el("a", { href: `#/device/${encodeURIComponent(e.device)}` }, e.device))] : null,
    e.interface ? [el("dt", {}, "interface"), el("dd", {}, el("a", { href: `#/device/${encodeURIComponent(e.device || "")}/if/${encodeURIComponent(e.interface)}` }, e.interface))] : null,
    e.host ? [el("dt", {}, "host"), el("dd", {}, e.host)] : null,
    el("dt", {}, "started"), el("dd", {}, fmtTime(a.started_at), el("span", { class: "dim" }, ` (${age(a.started_at)} ago)`)),
    el("dt", {}, "last seen"), el("dd", {}, fmtTime(a.last_seen)),
    a.acked_by ? [el("dt", {}, "acknowledged"), el("dd", {}, `${a.acked_by}, ${fmtTime(a.acked_at)}`)] : null,
    a.state === "resolved" ? [el("dt", {}, "resolved"), el("dd", {}, fmtTime(a.resolved_at))] : null,
    a.runbook ? [el("dt", {}, "runbook"), el("dd", {}, el("a", { href: a.runbook, target: "_blank", rel: "noopener noreferrer", id: "d-runbook" }, a.runbook))] : null);

  const attack = [];
  for (const t of tacticsOf(a)) attack.push(el("span", { class: "chip tactic" }, t));
  for (const t of a.techniques || []) {
    const u = techniqueURL(t);
    attack.push(u ? el("a", { class: "chip technique", href: u, target: "_blank", rel: "noopener noreferrer" }, t) : el("span", { class: "chip" }, t));
  }

  const links = [];
  if (a.suppressed_by) links.push(el("p", {}, "Suppressed by the root cause ", el("a", { href: `#/alert/${a.suppressed_by}` }, `#${a.suppressed_by}`)));
  if ((a.suppressed || []).length) {
    links.push(el("p", {}, `Root cause of ${a.suppressed.length} suppressed alert${a.suppressed.length === 1 ? "" : "s"}:`),
      el("ul", { class: "children" }, a.suppressed.map((id) => {
        const c = state.alerts.get(id);
        return el("li", {}, el("a", { href: `#/alert/${id}` }, `#${id}`), c ? ` ${c.title}` : "");
      })));
  }

  const evidence = (a.evidence || []).map((ev) => el("li", {},
    el("span", { class: "num dim" }, fmtTime(ev.time)), " ", el("span", { class: "chip" }, ev.kind), " ", ev.summary,
    (ev.fields || []).length ? el("div", { class: "fields" }, ev.fields.map((f) => el("span", {}, el("b", {}, f.key), "=", f.value))) : null));

  const timeline = state.history.map((h) => {
    let what;
    if (h.kind === "assign") what = h.assignee ? ["assigned to ", el("b", {}, h.assignee)] : ["took back the assignment"];
    else if (h.kind === "comment") what = ["commented"];
    else what = [h.from ? `${h.from} → ` : "", el("b", {}, h.to)];
    return el("li", { class: "tl-" + (h.kind || "state") },
      el("span", { class: "num dim" }, fmtTime(h.time)), " ", el("span", { class: "by" }, h.by), " ", ...what,
      h.comment ? el("blockquote", {}, h.comment) : null);
  });

  box.replaceChildren(...[head,
    a.description ? el("p", { class: "descr" }, a.description) : null,
    actions, assign, comment,
    section("Where and when", where),
    attack.length ? section("ATT&CK", el("div", { class: "chips", id: "d-attack" }, attack)) : null,
    links.length ? section("Related", ...links) : null,
    section("Timeline", el("ol", { class: "timeline", id: "d-timeline" }, timeline)),
    section(`Evidence (${(a.evidence || []).length})`, evidence.length ? el("ul", { class: "evidence" }, evidence) : el("p", { class: "dim" }, "none kept")),
    (a.labels || []).length ? section("Labels", el("div", { class: "fields" }, a.labels.map((l) => el("span", {}, el("b", {}, l.key), "=", l.value)))) : null,
  ].filter(Boolean));
  applyRole();
}

async function act(what, id) {
  if (!hasRole("analyst")) return;
  const comment = $("d-comment") ? $("d-comment").value.trim() : "";
  try {
    const body = comment && comment.length <= 1024 ? { comment } : {};
    await api("POST", `api/v1/alerts/${id}/${what}`, body);
    if (body.comment) $("d-comment").value = "";
    await loadDetail(id, true);
  } catch (err) { showError(`${what === "ack" ? "acknowledge" : what} alert ${id}`, err); }
}

async function assignSubmit(id) {
  try {
    await api("POST", `api/v1/alerts/${id}/assign`, { assignee: $("d-assignee").value.trim() });
    await loadDetail(id, false);
  } catch (err) { showError(`assign alert ${id}`, err); }
}

async function commentSubmit(id) {
  const text = $("d-comment").value;
  if (!text.trim()) { showError(`comment on alert ${id}`, "write something first"); return; }
  try {
    await api("POST", `api/v1/alerts/${id}/comment`, { text });
    $("d-comment").value = "";
    await loadDetail(id, true);
  } catch (err) { showError(`comment on alert ${id}`, err); }
}

// openSilence shows the silence form, its matchers prefilled from the alert.
function openSilence(a) {
  const e = a.entity || {};
  const cands = [["rule", a.rule, true], ["device", e.device, !!e.device && !e.interface], ["interface", e.interface, !!e.interface],
    ["host", e.host, !!e.host], ["site", e.site, false], ["key", a.key, false], ["severity", a.severity, false]].filter((c) => c[1]);
  const dlg = el("dialog", { id: "silence-dialog", class: "silence" });
  const form = el("form", { class: "stack" },
    el("h2", {}, `Silence alerts like #${a.id}`),
    el("p", { class: "dim" }, "They still fire and show, marked silenced, but page no one."),
    el("fieldset", {}, el("legend", {}, "Matchers (all must match)"),
      cands.map(([name, value, on], i) => el("label", { class: "matcher" },
        el("input", { type: "checkbox", name: "m", value: String(i), checked: on }),
        el("code", {}, `${name} = ${value}`)))),
    el("label", {}, "For ", el("select", { name: "duration" },
      ["1h", "4h", "12h", "1d", "3d", "7d"].map((d) => el("option", { value: d, selected: d === "4h" }, d)))),
    el("label", {}, "Why ", el("input", { name: "comment", required: true, maxlength: "1024", placeholder: "maintenance window, known scanner…" })),
    el("div", { class: "row" },
      el("button", { type: "submit" }, "Silence"),
      el("button", { type: "button", class: "ghost", onclick: () => dlg.close() }, "Cancel")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const fd = new FormData(form);
    const matchers = fd.getAll("m").map((i) => ({ name: cands[i][0], op: "=", value: cands[i][1] }));
    try {
      const s = await api("POST", "api/v1/silences", { matchers, duration: fd.get("duration"), comment: fd.get("comment") });
      dlg.close();
      showNote(`Silence ${s.id} until ${fmtTime(s.ends_at)}`);
      loadDetail(a.id, true);
    } catch (err) { showError("silence", err); }
  });
  dlg.append(form);
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
}

function showNote(text) {
  const n = el("div", { class: "note" }, text);
  $("errors").append(n);
  setTimeout(() => n.remove(), 6000);
}

// ---- charts ----------------------------------------------------------------
// lineChart draws series (each {name, cls, points: [{t, v, min, max}]}) as SVG: a line per
// series over a band from min to max, time along x, value along y from 0.
function lineChart(title, series, fmt) {
  const W = 760, H = 220, L = 64, R = 12, T = 12, B = 26;
  const all = series.flatMap((s) => s.points);
  const box = el("figure", { class: "chart" }, el("figcaption", {}, title));
  if (!all.length) { box.append(el("p", { class: "dim" }, "no data in this range")); return box; }
  const ts = all.map((p) => Date.parse(p.t));
  const t0 = Math.min(...ts), t1 = Math.max(...ts, t0 + 1);
  const vmax = Math.max(1e-9, ...all.map((p) => Math.max(p.v, p.max || 0)));
  const x = (t) => L + (W - L - R) * (t - t0) / (t1 - t0);
  const y = (v) => T + (H - T - B) * (1 - v / vmax);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, class: "plot" });
  for (let i = 0; i <= 4; i++) {
    const v = vmax * i / 4;
    root.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }),
      svg("text", { x: L - 6, y: y(v) + 4, class: "ylab" }, fmt(v)));
  }
  for (let i = 0; i <= 4; i++) {
    const t = t0 + (t1 - t0) * i / 4, d = new Date(t);
    const lab = t1 - t0 > 36 * 3600e3 ? `${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}h` : `${two(d.getHours())}:${two(d.getMinutes())}`;
    root.append(svg("text", { x: x(t), y: H - 6, class: "xlab" + (i === 0 ? " first" : i === 4 ? " last" : "") }, lab));
  }
  for (const s of series) {
    const pts = s.points.map((p) => ({ t: Date.parse(p.t), v: p.v, min: p.min ?? p.v, max: p.max ?? p.v }));
    // A gap of more than three times the usual step breaks the line.
    const steps = pts.slice(1).map((p, i) => p.t - pts[i].t).sort((a, b) => a - b);
    const step = steps.length ? steps[Math.floor(steps.length / 2)] : 0;
    let line = "", band = [], bands = [];
    pts.forEach((p, i) => {
      const gap = i > 0 && step > 0 && p.t - pts[i - 1].t > 3 * step;
      if (gap && band.length) { bands.push(band); band = []; }
      line += `${i === 0 || gap ? "M" : "L"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
      band.push(p);
    });
    if (band.length) bands.push(band);
    for (const b of bands) {
      if (b.length < 2 || b.every((p) => p.min === p.max)) continue;
      const up = b.map((p) => `${x(p.t).toFixed(1)},${y(p.max).toFixed(1)}`);
      const down = b.slice().reverse().map((p) => `${x(p.t).toFixed(1)},${y(p.min).toFixed(1)}`);
      root.append(svg("polygon", { points: up.concat(down).join(" "), class: "band " + s.cls }));
    }
    root.append(svg("path", { d: line, class: "line " + s.cls }));
  }
  const legend = el("div", { class: "legend" }, series.map((s) => {
    const last = s.points.length ? s.points[s.points.length - 1].v : null;
    return el("span", { class: "lg " + s.cls }, el("i", {}), `${s.name} `, el("b", {}, last === null ? "–" : fmt(last)));
  }));
  box.append(root, legend);
  return box;
}

async function series(device, metric, iface) {
  const q = new URLSearchParams({ metric, from: RANGES[state.range].from, step: "auto" });
  if (iface) q.set("interface", iface);
  const s = await api("GET", `api/v1/devices/${encodeURIComponent(device)}/series?${q}`);
  return s.points || [];
}

// ---- devices ---------------------------------------------------------------
async function showDevices() {
  const page = $("devices-page");
  try {
    const v = await api("GET", "api/v1/devices");
    const rows = v.devices.map((d) => {
      const up = (d.interfaces || []).filter((i) => i.oper_status === "up").length;
      return el("tr", { class: "st-" + d.status },
        el("td", {}, el("a", { href: `#/device/${encodeURIComponent(d.name)}` }, d.name)),
        el("td", {}, d.role || ""), el("td", {}, d.site || ""), el("td", { class: "st" }, d.status),
        el("td", { class: "num" }, d.cpu_percent != null ? d.cpu_percent.toFixed(0) + " %" : "–"),
        el("td", { class: "num" }, d.mem_percent != null ? d.mem_percent.toFixed(0) + " %" : "–"),
        el("td", { class: "num" }, `${up} / ${(d.interfaces || []).length}`),
        el("td", {}, d.poll_error || ""));
    });
    page.replaceChildren(el("h1", {}, `Devices of ${v.site || state.site}`),
      el("table", { class: "grid" }, el("thead", {}, el("tr", {}, ["Device", "Role", "Site", "Status", "CPU", "Memory", "Interfaces up", "Poll error"].map((h) => el("th", {}, h)))),
        el("tbody", {}, rows)));
  } catch (err) { showError("load the devices", err); }
}

function rangePicker(onchange) {
  return el("div", { class: "ranges" }, "Last ", Object.entries(RANGES).map(([k, r]) =>
    el("button", { type: "button", class: k === state.range ? "on" : "ghost", "data-range": k, onclick: () => { state.range = k; onchange(); } }, r.label)));
}

async function showDevice(name, iface) {
  const page = $("devices-page");
  try {
    const d = await api("GET", `api/v1/devices/${encodeURIComponent(name)}`);
    const redraw = () => showDevice(name, iface);
    const crumbs = el("p", { class: "crumbs" }, el("a", { href: "#/devices" }, "Devices"), " / ",
      iface ? el("a", { href: `#/device/${encodeURIComponent(name)}` }, name) : name, iface ? ` / ${iface}` : "");
    const charts = el("div", { class: "charts" });
    if (iface) {
      const i = (d.interfaces || []).find((x) => x.name === iface || String(x.index) === iface);
      page.replaceChildren(...[crumbs, el("h1", {}, `${name} ${iface}`),
        i ? el("p", { class: "dim" }, `${i.descr || ""} ${i.alias ? "· " + i.alias : ""} · ${si(i.speed_bps, "bit/s")} · admin ${i.admin_status}, oper ${i.oper_status}`) : null,
        rangePicker(redraw), charts].filter(Boolean));
      const [inb, outb, util, ine, oute] = await Promise.all(["in_bps", "out_bps", "utilization", "in_errors_ps", "out_errors_ps"].map((m) => series(name, m, iface)));
      charts.append(
        lineChart("Traffic", [{ name: "in", cls: "s1", points: inb }, { name: "out", cls: "s2", points: outb }], (v) => si(v, "bit/s")),
        lineChart("Utilization", [{ name: "utilization", cls: "s3", points: util }], (v) => v.toFixed(0) + " %"),
        lineChart("Errors", [{ name: "in", cls: "s1", points: ine }, { name: "out", cls: "s2", points: oute }], (v) => v.toFixed(1) + "/s"));
      return;
    }
    const ifRows = (d.interfaces || []).map((i) => el("tr", { class: "st-" + i.oper_status },
      el("td", {}, el("a", { href: `#/device/${encodeURIComponent(name)}/if/${encodeURIComponent(i.name)}` }, i.name)),
      el("td", {}, i.alias || i.descr || ""), el("td", { class: "st" }, `${i.admin_status}/${i.oper_status}`),
      el("td", { class: "num" }, si(i.in_bps, "bit/s")), el("td", { class: "num" }, si(i.out_bps, "bit/s")),
      el("td", { class: "num" }, (i.utilization || 0).toFixed(1) + " %")));
    page.replaceChildren(crumbs, el("h1", {}, name, el("span", { class: "pill st-" + d.status }, d.status)),
      el("p", { class: "dim" }, [d.role, d.site, d.address, d.sys_descr].filter(Boolean).join(" · ")),
      rangePicker(redraw), charts,
      el("h2", {}, "Interfaces"),
      el("table", { class: "grid" }, el("thead", {}, el("tr", {}, ["Interface", "Description", "Admin/oper", "In", "Out", "Utilization"].map((h) => el("th", {}, h)))),
        el("tbody", {}, ifRows)));
    const [cpu, mem, poll] = await Promise.all(["cpu_percent", "mem_percent", "poll_seconds"].map((m) => series(name, m)));
    charts.append(
      lineChart("CPU", [{ name: "cpu", cls: "s1", points: cpu }], (v) => v.toFixed(0) + " %"),
      lineChart("Memory", [{ name: "memory", cls: "s2", points: mem }], (v) => v.toFixed(0) + " %"),
      lineChart("Poll time", [{ name: "poll", cls: "s3", points: poll }], (v) => v.toFixed(2) + " s"));
  } catch (err) { showError(`load device ${name}`, err); }
}

// ---- flows -----------------------------------------------------------------
async function showFlows() {
  const f = {
    by: $("fl-by").value, order: $("fl-order").value, limit: $("fl-limit").value,
    device: $("fl-device").value.trim(), site: $("fl-site").value.trim(),
  };
  const q = new URLSearchParams({ by: f.by, order: f.order, limit: f.limit });
  const range = $("fl-range").value;
  if (range === "custom") {
    const from = $("fl-from").value, to = $("fl-to").value;
    if (!from || !to) { showError("flows", "give both ends of the range"); return; }
    q.set("from", new Date(from).toISOString());
    q.set("to", new Date(to).toISOString());
  } else {
    q.set("from", "-" + range);
    q.set("to", "now");
  }
  if (f.device) q.set("device", f.device);
  if (f.site) q.set("site", f.site);
  const out = $("flow-result");
  try {
    const v = await api("GET", "api/v1/flows/top?" + q);
    const rows = v.rows || [];
    const top = Math.max(1, ...rows.map((r) => f.order === "packets" ? r.packets : r.bytes));
    out.replaceChildren(el("p", { class: "dim" }, `${fmtTime(v.from)} → ${fmtTime(v.to)} (${Math.round(v.seconds / 60)} min), by ${v.order}`),
      rows.length ? el("table", { class: "grid flows" },
        el("thead", {}, el("tr", {}, ["#", v.by, "Exporter", "Share", "bit/s", "pkt/s", "Bytes", "Packets", "Flows"].map((h) => el("th", {}, h)))),
        el("tbody", {}, rows.map((r, i) => {
          const bar = el("div", { class: "bar" });
          bar.style.width = (100 * (f.order === "packets" ? r.packets : r.bytes) / top).toFixed(1) + "%";
          return el("tr", {}, el("td", { class: "num" }, i + 1), el("td", { class: "key" }, r.key), el("td", {}, r.device || "all"),
            el("td", { class: "share" }, bar), el("td", { class: "num" }, si(r.bps, "")), el("td", { class: "num" }, si(r.pps, "")),
            el("td", { class: "num" }, si(r.bytes, "B")), el("td", { class: "num" }, si(r.packets, "")), el("td", { class: "num" }, r.flows));
        }))) : el("p", { class: "empty" }, "No flows in this range."));
  } catch (err) { out.replaceChildren(); showError("load the flows", err); }
}

// ---- rules -----------------------------------------------------------------
let rulesSort = "hits";
async function showRules() {
  const page = $("rules-page");
  try {
    const v = await api("GET", "api/v1/rules");
    const list = v.rules.slice().sort((a, b) => rulesSort === "hits" ? b.hits - a.hits || a.name.localeCompare(b.name)
      : rulesSort === "last_hit" ? (Date.parse(b.last_hit) || 0) - (Date.parse(a.last_hit) || 0) : String(a[rulesSort]).localeCompare(String(b[rulesSort])));
    const th = (k, label) => el("th", { class: rulesSort === k ? "sorted desc" : "", onclick: () => { rulesSort = k; showRules(); } }, label);
    const rows = [];
    for (const r of list) {
      const tr = el("tr", { class: "rule", "data-rule": r.name },
        el("td", {}, el("button", { type: "button", class: "ghost small", "aria-expanded": "false" }, "▸")),
        el("td", { class: "key" }, r.name), el("td", {}, r.title), el("td", { class: "sev-" + r.level }, r.level), el("td", {}, r.category),
        el("td", {}, (r.tags || []).map((t) => el("span", { class: "chip" }, t))),
        el("td", { class: "num" }, r.hits), el("td", { class: "num" }, r.hits ? age(r.last_hit) + " ago" : "never"), el("td", { class: "dim" }, r.file));
      const more = el("tr", { class: "rule-hits", hidden: true }, el("td", { colspan: "9" }));
      tr.addEventListener("click", () => toggleRule(tr, more, r.name));
      rows.push(tr, more);
    }
    page.replaceChildren(el("h1", {}, `Detection rules (${list.length})`),
      el("table", { class: "grid" }, el("thead", {}, el("tr", {}, el("th", {}), th("name", "Rule"), th("title", "Title"), th("level", "Level"),
        th("category", "Category"), el("th", {}, "Tags"), th("hits", "Hits"), th("last_hit", "Last hit"), el("th", {}, "File"))), el("tbody", {}, rows)));
  } catch (err) { showError("load the rules", err); }
}

async function toggleRule(tr, more, name) {
  const open = more.hidden;
  more.hidden = !open;
  tr.querySelector("button").setAttribute("aria-expanded", String(open));
  tr.querySelector("button").textContent = open ? "▾" : "▸";
  if (!open) return;
  try {
    const v = await api("GET", "api/v1/alerts?" + new URLSearchParams({ rule: name, limit: "10" }));
    more.firstChild.replaceChildren(v.alerts.length ? el("ul", { class: "hits" }, v.alerts.map((a) => el("li", {},
      el("a", { href: `#/alert/${a.id}` }, `#${a.id}`), ` ${a.title} · ${a.state} · ×${a.count} · ${fmtTime(a.started_at)}`)))
      : el("p", { class: "dim" }, "No alerts of this rule kept."));
  } catch (err) { showError(`alerts of rule ${name}`, err); }
}

// ---- on-call ---------------------------------------------------------------
async function showOncall() {
  const page = $("oncall-page");
  const parts = [el("h1", {}, "On-call")];
  try {
    const inc = await api("GET", "api/v1/incidents?limit=50");
    parts.push(el("h2", {}, "Incidents"), el("table", { class: "grid" },
      el("thead", {}, el("tr", {}, ["Opened", "Severity", "Title", "Alerts", "Acknowledged", "Resolved", "Pages", "Escalations"].map((h) => el("th", {}, h)))),
      el("tbody", {}, inc.incidents.map((i) => el("tr", {},
        el("td", { class: "num" }, fmtTime(i.opened)), el("td", { class: "sev-" + i.severity }, i.severity), el("td", {}, i.title),
        el("td", {}, (i.alerts || []).map((id) => el("a", { href: `#/alert/${id}`, class: "chip" }, `#${id}`))),
        el("td", {}, i.acked_by ? `${i.acked_by} ${fmtTime(i.acked)}` : "–"), el("td", { class: "num" }, i.resolved ? fmtTime(i.resolved) : "open"),
        el("td", { class: "num" }, i.pages), el("td", { class: "num" }, i.escalations))))));
    const log = await api("GET", "api/v1/notifications?limit=100");
    parts.push(el("h2", {}, "Notification log"), el("table", { class: "grid" },
      el("thead", {}, el("tr", {}, ["Time", "Receiver", "Target", "Status", "Severity", "Title", "Result", "Attempt", "Error"].map((h) => el("th", {}, h)))),
      el("tbody", {}, log.notifications.map((n) => el("tr", { class: "res-" + n.result },
        el("td", { class: "num" }, fmtTime(n.time)), el("td", {}, n.receiver), el("td", {}, n.target || ""), el("td", {}, n.status),
        el("td", { class: "sev-" + n.severity }, n.severity), el("td", {}, n.title), el("td", {}, n.result), el("td", { class: "num" }, n.attempt),
        el("td", { class: "dim" }, n.error || ""))))));
  } catch (err) {
    if (err.status === 404) parts.push(el("p", { class: "empty" }, "No notification pipeline is configured on this appliance."));
    else showError("load the on-call log", err);
  }
  page.replaceChildren(...parts);
}

// ---- audit -----------------------------------------------------------------
async function showAudit() {
  const out = $("audit-result");
  if (!hasRole("admin")) { out.replaceChildren(el("p", { class: "empty" }, "The audit log is for admins.")); return; }
  const q = new URLSearchParams({ limit: "500" });
  if ($("au-who").value.trim()) q.set("who", $("au-who").value.trim());
  if ($("au-action").value) q.set("action", $("au-action").value);
  if ($("au-since").value) q.set("since", $("au-since").value);
  try {
    const v = await api("GET", "api/v1/audit?" + q);
    out.replaceChildren(v.entries.length ? el("table", { class: "grid", id: "audit-table" },
      el("thead", {}, el("tr", {}, ["#", "Time", "Who", "Role", "Via", "Action", "Target", "Detail", "From", "Result"].map((h) => el("th", {}, h)))),
      el("tbody", {}, v.entries.map((e) => el("tr", { class: e.ok ? "" : "refused" },
        el("td", { class: "num" }, e.seq), el("td", { class: "num" }, fmtTime(e.time)), el("td", {}, e.who), el("td", {}, e.role || ""),
        el("td", {}, e.via || ""), el("td", { class: "key" }, e.action), el("td", {}, e.target || ""), el("td", { class: "detail-cell" }, e.detail || ""),
        el("td", { class: "dim" }, e.remote || ""), el("td", {}, e.ok ? "ok" : "refused")))))
      : el("p", { class: "empty" }, "No entries."));
  } catch (err) { showError("load the audit log", err); }
}

// ---- silences --------------------------------------------------------------
// span says how long ms is: "3h 5m", "2d 4h", "40s".
function span(ms) {
  const sec = Math.max(0, ms / 1000);
  const d = Math.floor(sec / 86400), h = Math.floor(sec % 86400 / 3600), m = Math.floor(sec % 3600 / 60);
  return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m` : `${Math.floor(sec)}s`;
}

// showSilences lists the silences that have not ended (all with "show expired"), the latest
// to end first, with an Expire button for analysts.
async function showSilences() {
  const out = $("silences-result");
  try {
    const v = await api("GET", "api/v1/silences");
    const now = Date.now();
    const all = v.silences || [];
    const ended = (s) => !(Date.parse(s.ends_at) > now);
    const list = $("si-expired").checked ? all : all.filter((s) => !ended(s));
    const hidden = all.length - list.length;
    const can = hasRole("analyst");
    const rows = list.map((s) => {
      const done = ended(s), pending = Date.parse(s.starts_at) > now;
      const st = done ? "expired" : pending ? "pending" : "active";
      return el("tr", { class: "sil st-" + st, "data-silence": s.id },
        el("td", { class: "key" }, s.id),
        el("td", {}, el("div", { class: "matchers" }, (s.matchers || []).map((m) => el("code", { class: "chip" }, `${m.name}${m.op || "="}"${m.value}"`)))),
        el("td", { class: "why" }, s.comment || ""),
        el("td", {}, s.created_by || ""),
        el("td", { class: "num" }, fmtTime(s.created_at)),
        el("td", { class: "num" }, pending ? `${fmtTime(s.starts_at)} (in ${span(Date.parse(s.starts_at) - now)})` : fmtTime(s.starts_at)),
        el("td", { class: "num" }, fmtTime(s.ends_at), el("span", { class: "dim" }, done ? ` (${span(now - Date.parse(s.ends_at))} ago)` : ` (in ${span(Date.parse(s.ends_at) - now)})`)),
        el("td", { class: "st" }, st),
        el("td", { "data-min-role": "analyst" }, done ? "" : el("button", { type: "button", class: "danger expire", disabled: !can,
          onclick: (ev) => expireSilence(s.id, ev.currentTarget) }, "Expire")));
    });
    out.replaceChildren(list.length ? el("table", { class: "grid", id: "silences-table" },
      el("thead", {}, el("tr", {}, ["ID", "Matchers (all must match)", "Why", "By", "Created", "Starts", "Ends", "State"].map((h) => el("th", {}, h)),
        el("th", { "data-min-role": "analyst" }))),
      el("tbody", {}, rows)) : el("p", { class: "empty", id: "silences-empty" }, "No active silence."),
    hidden ? el("p", { class: "dim" }, `${hidden} expired silence${hidden === 1 ? "" : "s"} not shown.`) : null);
    applyRole();
  } catch (err) {
    if (err.status === 404) out.replaceChildren(el("p", { class: "empty" }, "No correlator runs on this appliance: there are no silences."));
    else showError("load the silences", err);
  }
}

async function expireSilence(id, button) {
  if (!hasRole("analyst")) return;
  if (button) button.disabled = true;
  try {
    await api("DELETE", `api/v1/silences/${encodeURIComponent(id)}`);
    showNote(`Silence ${id} expired: the alerts it muted page again`);
  } catch (err) { showError(`expire silence ${id}`, err); }
  await showSilences();
}

// ---- reports ---------------------------------------------------------------
// lastMonth is the month before this one, "YYYY-MM": the latest that is over.
function lastMonth() {
  const d = new Date();
  d.setDate(1);
  d.setMonth(d.getMonth() - 1);
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}`;
}

function bytesText(n) {
  return n >= 1e6 ? (n / 1e6).toFixed(1) + " MB" : n >= 1e3 ? (n / 1e3).toFixed(0) + " kB" : n + " B";
}

const reportGen = { running: false, timer: 0, started: 0 };

// showReports lists the kept reports, newest first, each file a download; fresh marks the
// one just made.
async function showReports(fresh) {
  const out = $("reports-result");
  try {
    const v = await api("GET", "api/v1/reports");
    if (v.generating && !reportGen.running) setReportProgress("another report is being generated…");
    else if (!v.generating && !reportGen.running) setReportProgress("");
    const rows = (v.reports || []).map((r) => el("tr", { class: r.id === fresh ? "fresh" : "", "data-report": r.id },
      el("td", { class: "key" }, r.month),
      el("td", {}, r.site || el("span", { class: "dim" }, "all sites")),
      el("td", {}, r.time_zone),
      el("td", { class: "num" }, fmtTime(r.generated)),
      el("td", {}, r.trigger === "schedule" ? "scheduled" : r.trigger),
      el("td", {}, el("div", { class: "files" }, (r.files || []).map((f) => el("a", {
        href: `api/v1/reports/${r.id}/${f.format}`, class: "dl", "data-format": f.format,
        onclick: (ev) => { ev.preventDefault(); downloadClicked(r.id, f.format); },
      }, "↓ ", f.format.toUpperCase(), el("span", { class: "dim" }, ` ${bytesText(f.bytes)}`))))),
      el("td", {}, (r.mailed || []).length ? `mailed to ${r.mailed.join(", ")}` : r.mail_error
        ? el("span", { class: "bad" }, `not mailed: ${r.mail_error}`) : el("span", { class: "dim" }, "not mailed"))));
    out.replaceChildren(rows.length ? el("table", { class: "grid", id: "reports-table" },
      el("thead", {}, el("tr", {}, ["Month", "Site", "Time zone", "Generated", "How", "Download", "Mail"].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows)) : el("p", { class: "empty", id: "reports-empty" }, "No report kept yet."));
  } catch (err) {
    if (err.status === 404) out.replaceChildren(el("p", { class: "empty" }, "This appliance keeps no reports."));
    else showError("load the reports", err);
  }
}

// downloadReport fetches a report's file with the page's credentials (a kiosk's token cannot
// ride on a plain link) and hands it to the browser as a download under the server's name.
async function downloadReport(id, format) {
  const headers = {};
  if (auth.token) headers.Authorization = "Bearer " + auth.token;
  let r;
  try {
    r = await fetch(`api/v1/reports/${id}/${format}`, { headers, credentials: "same-origin" });
  } catch (err) {
    throw new APIError(0, "the server cannot be reached");
  }
  if (r.status === 401) { toLogin(); throw new APIError(401, "not logged in"); }
  if (!r.ok) {
    let msg = `HTTP ${r.status}`;
    try { msg = (await r.json()).error || msg; } catch (_) { /* not JSON */ }
    throw new APIError(r.status, msg);
  }
  const blob = await r.blob();
  const m = /filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "");
  const name = m ? m[1] : `watchfloor-report-${id}.${format}`;
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  return { name, size: blob.size, blob };
}

async function downloadClicked(id, format) {
  try {
    const d = await downloadReport(id, format);
    showNote(`Downloaded ${d.name} (${bytesText(d.size)})`);
  } catch (err) { showError(`download report ${id} (${format})`, err); }
}

function setReportProgress(text) {
  $("rp-progress").hidden = !text;
  $("rp-progress-text").textContent = text;
}

// generateReport asks for the chosen month's report; the server makes it while the request
// waits (seconds, at most two minutes), one at a time.
async function generateReport(ev) {
  ev.preventDefault();
  if (!hasRole("analyst") || reportGen.running) return;
  const month = $("rp-month").value, site = $("rp-site").value.trim();
  if (!/^\d{4}-\d{2}$/.test(month)) { showError("generate a report", "choose a month"); return; }
  const what = `${month}${site ? " of " + site : " of all sites"}`;
  reportGen.running = true;
  reportGen.started = performance.now();
  $("rp-generate").disabled = true;
  const tick = () => setReportProgress(`generating the report for ${what}… ${((performance.now() - reportGen.started) / 1000).toFixed(0)} s`);
  tick();
  reportGen.timer = setInterval(tick, 500);
  try {
    const r = await api("POST", "api/v1/reports", { month, site });
    showNote(`Report ${what} made in ${((performance.now() - reportGen.started) / 1000).toFixed(1)} s`);
    reportGen.running = false;
    await showReports(r.id);
  } catch (err) {
    showError(`generate the report for ${what}`, err);
  } finally {
    clearInterval(reportGen.timer);
    reportGen.running = false;
    setReportProgress("");
    $("rp-generate").disabled = false;
  }
}

// ---- routing and keys --------------------------------------------------------
function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  let view = parts[0] || "alerts";
  if (view === "alert" || view === "device") view = view + "s";
  if (!document.querySelector(`.view[data-view="${view}"]`)) view = "alerts";
  state.view = view;
  for (const v of document.querySelectorAll(".view")) v.hidden = v.dataset.view !== view;
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("on", a.dataset.view === view);
  switch (view) {
    case "alerts":
      if (parts[0] === "alert" && Number(parts[1]) > 0) select(Number(parts[1]), true);
      break;
    case "devices":
      if (parts[1]) showDevice(parts[1], parts[2] === "if" ? parts[3] : "");
      else showDevices();
      break;
    case "flows": showFlows(); break;
    case "rules": showRules(); break;
    case "oncall": showOncall(); break;
    case "audit": showAudit(); break;
    case "silences": showSilences(); break;
    case "reports": showReports(); break;
  }
}

function typing(ev) {
  const t = ev.target;
  return t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
}

function onKey(ev) {
  if (ev.key === "Escape") { if (typing(ev)) ev.target.blur(); return; }
  if (typing(ev) || ev.ctrlKey || ev.metaKey || ev.altKey || document.querySelector("dialog[open]")) return;
  const views = ["alerts", "devices", "flows", "rules", "oncall", "audit", "silences", "reports"];
  if (/^[1-8]$/.test(ev.key)) { location.hash = "#/" + views[Number(ev.key) - 1]; return; }
  if (ev.key === "?") { $("help").showModal(); return; }
  if (state.view !== "alerts") return;
  const id = state.selected;
  switch (ev.key) {
    case "j": case "ArrowDown": move(1); break;
    case "k": case "ArrowUp": move(-1); break;
    case "Enter": if (id) loadDetail(id, false); break;
    case "/": $("f-text").focus(); break;
    case "a": if (id && hasRole("analyst")) act("ack", id); break;
    case "R": if (id && hasRole("analyst")) act("resolve", id); break;
    case "i": if ($("d-assignee") && !$("d-assignee").disabled) $("d-assignee").focus(); break;
    case "c": if ($("d-comment") && !$("d-comment").disabled) $("d-comment").focus(); break;
    case "s": if (state.detail && hasRole("analyst")) openSilence(state.detail); break;
    default: return;
  }
  ev.preventDefault();
}

function setup() {
  for (const t of TACTICS) $("f-tactic").append(el("option", { value: t }, t));
  for (const d of FLOW_DIMS) $("fl-by").append(el("option", { value: d }, d));
  for (const a of AUDIT_ACTIONS) $("au-action").append(el("option", { value: a }, a));
  for (const id of ["f-state", "f-severity", "f-site", "f-category", "f-tactic"]) $(id).addEventListener("change", loadAlerts);
  $("f-text").addEventListener("input", loadAlerts);
  $("filters").addEventListener("submit", (ev) => ev.preventDefault());
  for (const th of document.querySelectorAll("#queue th")) {
    th.addEventListener("click", () => {
      const k = th.dataset.sort;
      state.sort = { key: k, desc: state.sort.key === k ? !state.sort.desc : k === "severity" };
      renderQueue();
    });
  }
  $("flow-form").addEventListener("submit", (ev) => { ev.preventDefault(); showFlows(); });
  $("fl-range").addEventListener("change", () => {
    for (const e of document.querySelectorAll("#flow-form .custom")) e.hidden = $("fl-range").value !== "custom";
  });
  $("audit-form").addEventListener("submit", (ev) => { ev.preventDefault(); showAudit(); });
  $("si-expired").addEventListener("change", showSilences);
  $("report-form").addEventListener("submit", generateReport);
  $("rp-month").value = $("rp-month").max = lastMonth();
  $("logout").addEventListener("click", logout);
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", route);
  setInterval(() => { if (state.view === "alerts") scheduleRender(); }, 30000); // ages
}

async function main() {
  setup();
  try {
    if (!(await whoAmI())) return;
  } catch (err) { showError("who am I", err); return; }
  applyRole();
  connect();
  route(); // first, so that the first alert selected does not replace a link to another view
  await loadAlerts();
}

main();
