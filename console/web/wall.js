// Watchfloor wall: one WebSocket, a snapshot, then deltas. No framework, no network but
// this server. Every text that comes from devices is set with textContent, never as HTML.
"use strict";

const TOKEN_KEY = "watchfloor.token";
const ROLES = ["core", "distribution", "access", "firewall"];
const MAX_EVENTS = 100;
const SEVERITY = ["info", "low", "medium", "high", "critical"];

const state = {
  site: "", devices: new Map(), events: [], links: [], stats: null, flows: null,
  staleAfter: 60000, lastMessage: 0, live: false, fresh: new Set(), skew: 0,
  // Open alerts by ID; correlator is false until the stream says there is one. alertsHidden
  // counts the open alerts the snapshot left out (it carries the most important 500).
  alerts: new Map(), correlator: false, alertsHidden: 0, freshAlerts: new Set(),
};

// serverNow is the server's clock as this browser estimates it (walls are not always in sync).
const serverNow = () => Date.now() + state.skew;

// ---- helpers ---------------------------------------------------------------
const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "style") e.style.cssText = v;
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

// bitRate writes bit/s for people: "12.3 Mbit/s".
function bitRate(v) {
  const units = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"];
  v = Math.max(0, Number(v) || 0);
  let i = 0;
  while (v >= 999.95 && i < units.length - 1) { v /= 1000; i++; }
  return (i === 0 || v >= 99.95 ? v.toFixed(0) : v.toFixed(1)) + " " + units[i];
}

function count(v) {
  if (v >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (v >= 1e4) return (v / 1e3).toFixed(1) + "k";
  return Math.round(v).toString();
}

function duration(s) {
  if (!(s >= 0)) return "–";
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m` : `${Math.floor(s)}s`;
}

const two = (n) => String(n).padStart(2, "0");
const hm = (d) => `${two(d.getHours())}:${two(d.getMinutes())}`;
const hms = (d) => `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;

// heat maps a utilization percentage to a colour: green, through yellow, to red.
function heat(pct) {
  const p = Math.max(0, Math.min(100, pct)) / 100;
  const hue = 140 - 140 * Math.min(1, p * 1.15);
  const light = 28 + 30 * Math.min(1, p * 3);
  return `hsl(${hue.toFixed(0)} 85% ${light.toFixed(0)}%)`;
}

// ---- token -----------------------------------------------------------------
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

function askToken(message) {
  const form = $("login");
  if (message) $("login-msg").textContent = message;
  form.hidden = false;
  $("login-token").focus();
  form.onsubmit = (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("login-token").value.trim());
    form.hidden = true;
    connect();
  };
}

// ---- connection ------------------------------------------------------------
let ws = null, retry = 0, retryTimer = 0;

function connect() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) { askToken(); return; }
  const url = new URL("api/v1/stream", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("token", token);
  let opened = false;
  ws = new WebSocket(url);
  ws.onopen = () => { opened = true; };
  ws.onmessage = (ev) => {
    retry = 0;
    state.lastMessage = Date.now();
    try { handle(JSON.parse(ev.data)); } catch (err) { console.error("wall: bad message", err); }
  };
  ws.onclose = () => {
    state.live = false;
    setConn("reconnecting", "reconnecting");
    if (!opened) checkToken(token);
    const delay = Math.min(30000, 1000 * 2 ** retry) * (0.75 + Math.random() / 2);
    retry = Math.min(retry + 1, 5);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, delay);
  };
}

// checkToken asks the API whether a failed stream was refused for its token.
async function checkToken(token) {
  try {
    const r = await fetch("api/v1/topology", { headers: { Authorization: "Bearer " + token } });
    if (r.status === 401) {
      clearTimeout(retryTimer);
      sessionStorage.removeItem(TOKEN_KEY);
      askToken("The server refused this token. Enter the current one.");
    }
  } catch (_) { /* the server is down: keep retrying */ }
}

function setConn(cls, text) {
  const c = $("conn");
  c.className = "conn " + cls;
  $("conn-text").textContent = text;
  document.body.classList.toggle("stale", cls === "stale");
  document.body.classList.remove("connecting");
}

// ---- messages --------------------------------------------------------------
function handle(msg) {
  switch (msg.type) {
    case "snapshot":
      state.site = msg.site || "";
      state.staleAfter = msg.stale_after_ms || 60000;
      state.devices = new Map((msg.devices || []).map((d) => [d.name, d]));
      state.events = (msg.events || []).slice().reverse().slice(0, MAX_EVENTS);
      state.links = msg.topology || [];
      state.stats = msg.stats || null;
      state.flows = msg.flows || null;
      state.skew = Date.parse(msg.server_time) - Date.now() || 0;
      state.correlator = Array.isArray(msg.alerts);
      state.alerts = new Map((msg.alerts || []).map((a) => [a.id, Object.assign(a, { started_ms: Date.parse(a.started_at) || 0 })]));
      state.alertsHidden = Math.max(0, (msg.alerts_open || 0) - state.alerts.size);
      state.live = true;
      setConn("live", "live");
      break;
    case "device":
      state.devices.set(msg.device.name, msg.device);
      break;
    case "events":
      for (const e of msg.events || []) {
        if (state.events.some((x) => x.id === e.id)) continue;
        state.events.unshift(e);
        state.fresh.add(e.id);
      }
      state.events.length = Math.min(state.events.length, MAX_EVENTS);
      break;
    case "topology":
      state.links = msg.links || [];
      break;
    case "stats":
      state.stats = msg.stats;
      break;
    case "flows":
      state.flows = msg.flows || null;
      break;
    case "alert":
      alertChanged(msg.alert);
      schedule(false);
      return;
    default:
      return;
  }
  schedule();
}

// alertChanged applies one alert delta: open alerts are kept, resolved ones removed.
function alertChanged(a) {
  if (!a || !a.id) return;
  state.correlator = true;
  if (a.state === "firing" || a.state === "acknowledged") {
    a.started_ms = Date.parse(a.started_at) || 0;
    if (!state.alerts.has(a.id)) state.freshAlerts.add(a.id);
    state.alerts.set(a.id, a);
  } else if (!state.alerts.delete(a.id) && state.alertsHidden > 0) {
    state.alertsHidden--;
  }
}

// schedule renders soon, at most a few times a second however fast deltas arrive, and in an
// animation frame, so that a burst of deltas costs one render. all=false renders the alerts
// panel (and the panels that share its column) only: a burst of alert changes leaves the
// device tiles alone.
let pending = false, lastRender = 0, renderAll = false;
function schedule(all = true) {
  renderAll = renderAll || all;
  if (pending) return;
  pending = true;
  setTimeout(() => requestAnimationFrame(() => {
    pending = false;
    const full = renderAll;
    renderAll = false;
    if (full) render(); else renderAlertColumn();
  }), Math.max(0, lastRender + 250 - Date.now()));
}

// ---- rendering -------------------------------------------------------------
function render() {
  lastRender = Date.now();
  document.title = (state.site ? state.site + " · " : "") + "Watchfloor wall";
  $("site").textContent = state.site || "Watchfloor";
  const devices = [...state.devices.values()];
  renderKPIs(devices);
  renderDevices(devices);
  renderLinks(devices);
  renderFlows();
  renderCapture();
  renderAlerts();
  renderEvents();
  fitRows($("links"));
  fit();
}

// renderAlertColumn re-renders the alerts and refits the lists beside them.
function renderAlertColumn() {
  lastRender = Date.now();
  renderAlerts();
  fitRows($("links"));
  fitRows($("events"));
}

// fit picks the least dense layout in which every tile is on the screen, with tiles as wide
// as lets whole columns fill the width.
const TILE_WIDTHS = [320, 270, 225, 150, 118], TILE_GAP = 12;
function fit() {
  const box = $("devices");
  for (let level = 0; level < TILE_WIDTHS.length; level++) {
    const cols = Math.max(1, Math.floor((box.clientWidth + TILE_GAP) / (TILE_WIDTHS[level] + TILE_GAP)));
    box.style.setProperty("--tile", Math.floor((box.clientWidth + TILE_GAP) / cols - TILE_GAP) + "px");
    document.body.dataset.density = level;
    if (box.scrollHeight <= box.clientHeight + 1) return;
  }
}

function renderKPIs(devices) {
  const up = devices.filter((d) => d.status === "up").length;
  const down = devices.filter((d) => d.status === "down").length;
  let ifDown = 0;
  for (const d of devices) for (const i of d.interfaces || []) if (portState(i) === "down") ifDown++;
  $("k-up").textContent = `${up}/${devices.length}`;
  $("k-down").textContent = down;
  $("k-down-box").classList.toggle("active", down > 0);
  $("k-ifdown").textContent = ifDown;
  $("k-ifdown-box").classList.toggle("active", ifDown > 0);
  const s = state.stats;
  $("k-rate").textContent = s ? count(s.records_per_s) : "–";
  $("k-drop").textContent = s ? count(s.dropped_per_s) : "–";
  $("k-drop-box").classList.toggle("alarm", !!s && s.dropped_per_s > 0);
  $("k-queue").textContent = s && s.queue_capacity ? `${Math.round(100 * s.queue_depth / s.queue_capacity)}%` : s ? count(s.queue_depth) : "–";
}

function portState(i) {
  if (i.admin_status === "down") return "admin";
  if (i.oper_status === "up") return "up";
  if (i.oper_status === "down" || i.oper_status === "lowerLayerDown") return "down";
  return "unread";
}

function roleOrder(r) {
  const i = ROLES.indexOf(r);
  return i < 0 ? ROLES.length : i;
}

function renderDevices(devices) {
  const box = $("devices");
  if (devices.length === 0) { box.replaceChildren($("devices-empty") || el("p", { class: "empty" }, "No devices.")); return; }
  const groups = new Map();
  for (const d of devices) {
    const role = d.role || "other";
    if (!groups.has(role)) groups.set(role, []);
    groups.get(role).push(d);
  }
  const order = [...groups.keys()].sort((a, b) => roleOrder(a) - roleOrder(b) || a.localeCompare(b));
  box.replaceChildren(...order.map((role) => {
    const list = groups.get(role).sort((a, b) => (a.status === "down" ? 0 : 1) - (b.status === "down" ? 0 : 1) || a.name.localeCompare(b.name));
    const down = list.filter((d) => d.status === "down").length;
    return el("section", { class: "group", "data-role": role },
      el("h2", {}, role, el("span", { class: "count" }, `${list.length - down}/${list.length} up`),
        down ? el("span", { class: "count bad" }, `${down} down`) : null),
      el("div", { class: "tiles" }, list.map(tile)));
  }));
}

function tile(d) {
  const stale = d.status === "up" && d.last_poll && serverNow() - Date.parse(d.last_poll) > state.staleAfter;
  const ifs = d.interfaces || [];
  const downPorts = ifs.filter((i) => portState(i) === "down").length;
  const badge = d.status === "down" ? "down" : stale ? "stale" : d.status;
  const when = d.status === "down" ? "down " + duration((serverNow() - Date.parse(d.last_change)) / 1000)
    : d.status === "up" ? "up " + duration(d.uptime_s) : "not polled yet";
  // A negative delay keeps the pulse of down tiles in phase across re-renders.
  const style = d.status === "down" ? `animation-delay:-${Date.now() % 1600}ms` : null;
  const cols = ifs.length <= 24 ? Math.max(12, ifs.length) : ifs.length <= 96 ? 24 : 48;
  return el("article", { class: `tile ${d.status}${stale ? " stale" : ""}`, "data-device": d.name, style },
    el("div", { class: "head" }, el("span", { class: "name", title: d.sys_descr || d.name }, d.name), el("span", { class: "badge" }, badge)),
    el("div", { class: "meta" }, el("span", {}, d.sys_name || d.address),
      el("span", { class: "when", title: d.status === "down" ? "since " + since(d.last_change) : null }, when),
      downPorts && d.status !== "down" ? el("span", { class: "ifdown" }, `${downPorts} if down`) : null),
    d.status === "down" && d.poll_error ? el("div", { class: "err" }, d.poll_error) : null,
    d.cpu_percent != null || d.mem_percent != null
      ? el("div", { class: "gauges" }, gauge("CPU", d.cpu_percent), gauge("MEM", d.mem_percent)) : null,
    ifs.length ? el("div", { class: "ports", style: `--cols:${cols}` }, ifs.map((i) => port(i, d))) : null,
    downPorts ? el("div", { class: "ifsum" }, el("b", {}, `${downPorts} down`), ` of ${ifs.length} interfaces`) : null);
}

function since(t) {
  const ms = Date.parse(t);
  return ms > 0 ? hms(new Date(ms)) : "–";
}

function gauge(label, v) {
  if (v == null) return null;
  const cls = v >= 90 ? "fill crit" : v >= 75 ? "fill hot" : "fill";
  return el("div", { class: "gauge" }, label, el("div", { class: "track" }, el("div", { class: cls, style: `width:${Math.min(100, v)}%` })), el("b", {}, v.toFixed(0) + "%"));
}

function port(i, d) {
  const st = portState(i);
  const fl = flowOf(d, i);
  const title = `${i.name}${i.alias ? " (" + i.alias + ")" : ""} — ${st === "admin" ? "admin down" : i.oper_status}` +
    (st === "up" ? `\nin ${bitRate(i.in_bps)} · out ${bitRate(i.out_bps)} · ${i.utilization.toFixed(1)}%` : "") +
    (fl ? `\nflows: in ${bitRate(fl.in_bps)} · out ${bitRate(fl.out_bps)}` : "");
  return el("span", { class: "port " + st, title, style: st === "up" ? `background:${heat(i.utilization)}` : null });
}

function renderLinks(devices) {
  const peer = new Map();
  for (const l of state.links) { peer.set(l.a + "\u0000" + l.a_port, l.b); peer.set(l.b + "\u0000" + l.b_port, l.a); }
  const rows = [];
  for (const d of devices) {
    for (const i of d.interfaces || []) {
      const rate = Math.max(i.in_bps || 0, i.out_bps || 0);
      if (rate > 0 && portState(i) === "up") rows.push({ d, i, rate, to: peer.get(d.name + "\u0000" + i.name) });
    }
  }
  rows.sort((a, b) => b.rate - a.rate);
  $("links").replaceChildren(...rows.slice(0, 8).map(({ d, i, rate, to }) => {
    const fl = flowOf(d, i);
    return el("li", { "data-link": d.name + " " + i.name },
      el("span", { class: "where", title: i.alias || i.descr || i.name }, d.name, " ", el("small", {}, i.name), to ? el("small", {}, " → " + to) : null),
      el("span", { class: "rate" }, bitRate(rate)),
      el("div", { class: "bar2" }, el("div", { style: `width:${Math.min(100, i.utilization)}%;background:${heat(i.utilization)}` })),
      el("span", { class: "io" }, `SNMP in ${bitRate(i.in_bps)} · out ${bitRate(i.out_bps)} · ${i.utilization.toFixed(0)}% of ${bitRate(i.speed_bps)}`),
      fl ? el("span", { class: "flow" }, "flows in ", el("b", {}, bitRate(fl.in_bps)), " · out ", el("b", {}, bitRate(fl.out_bps))) : null);
  }));
  if (rows.length === 0) $("links").replaceChildren(el("li", { class: "io" }, "No traffic yet."));
}

// ---- flows -------------------------------------------------------------------
// flowIfs indexes the flows' interfaces by device and ifIndex, and by device and name.
let flowIfs = new Map(), flowIfsOf = null;
function flowOf(d, i) {
  const f = state.flows;
  if (!f) return null;
  if (flowIfsOf !== f) {
    flowIfs = new Map();
    for (const x of f.interfaces || []) {
      flowIfs.set(x.device + "\u0000#" + x.if_index, x);
      if (x.interface) flowIfs.set(x.device + "\u0000" + x.interface, x);
    }
    flowIfsOf = f;
  }
  return flowIfs.get(d.name + "\u0000#" + i.index) || flowIfs.get(d.name + "\u0000" + i.name) || null;
}

// Well-known services, to name the ports of the top list.
const SERVICES = {
  "tcp/22": "ssh", "tcp/25": "smtp", "udp/53": "dns", "tcp/53": "dns", "tcp/80": "http", "udp/123": "ntp",
  "udp/161": "snmp", "udp/162": "snmp trap", "tcp/389": "ldap", "tcp/443": "https", "udp/443": "quic", "tcp/445": "smb",
  "udp/500": "ike", "udp/514": "syslog", "tcp/636": "ldaps", "tcp/993": "imaps", "udp/1194": "openvpn",
  "udp/2055": "netflow", "tcp/3306": "mysql", "tcp/3389": "rdp", "udp/4500": "ipsec", "udp/4739": "ipfix",
  "tcp/5432": "postgres", "udp/6343": "sflow", "tcp/8080": "http-alt", "tcp/8443": "https-alt",
};

const FLOW_STALE_MS = 3 * 60000;

function renderFlows() {
  const f = state.flows;
  $("talkers").classList.toggle("stale", false);
  document.body.classList.toggle("no-flows", !f);
  if (!f) {
    $("fl-empty").hidden = false;
    $("fl-lists").hidden = true;
    $("fl-window").textContent = "";
    $("fl-total").textContent = "";
    return;
  }
  $("fl-empty").hidden = true;
  $("fl-lists").hidden = false;
  const end = Date.parse(f.start) + 1000 * (f.seconds || 0);
  const age = serverNow() - end;
  const stale = age > FLOW_STALE_MS;
  $("talkers").classList.toggle("stale", stale);
  $("fl-window").textContent = stale ? `flow data ${duration(age / 1000)} old`
    : f.live ? `live · last ${Math.round(f.seconds)} s` : `${hm(new Date(Date.parse(f.start)))}–${hm(new Date(end))}`;
  talkerList($("fl-src"), f.src, (r) => r.key, (r) => r.device);
  talkerList($("fl-dst"), f.dst, (r) => r.key, (r) => r.device);
  talkerList($("fl-port"), f.port, (r) => r.key, (r) => SERVICES[r.key] || "");
  const t = f.totals || {};
  $("fl-total").replaceChildren(el("span", {}, "all exporters ", el("b", {}, bitRate(t.bps)), ` · ${count(t.pps || 0)} pkt/s · ${count(t.flows || 0)} flows`));
  if (t.overflow > 0) $("fl-total").append(el("span", { class: "ovf" }, ` · ${count(t.overflow)} records over table bounds`));
}

// talkerList shows rows best first, each with a bar proportional to the top one, as many as fit.
function talkerList(ol, rows, key, note) {
  rows = rows || [];
  if (rows.length === 0) { ol.replaceChildren(el("li", { class: "none" }, "No traffic in this interval.")); return; }
  const top = Math.max(1, rows[0].bps || 0);
  ol.replaceChildren(...rows.map((r) => el("li", { "data-key": key(r), title: `${key(r)} via ${r.device || "?"}` + (r.devices > 1 ? ` (seen by ${r.devices} exporters)` : "") + ` · ${count(r.pps)} pkt/s` },
    el("div", { class: "fill", style: `width:${Math.max(0.5, Math.min(100, 100 * (r.bps || 0) / top)).toFixed(1)}%` }),
    el("span", { class: "k" }, key(r), note(r) ? el("small", {}, " " + note(r)) : null),
    el("span", { class: "r" }, bitRate(r.bps)))));
  fitRows(ol);
}

// fitRows hides the rows of a clipped list that do not fit whole, rather than cut one in half.
function fitRows(ol) {
  for (const li of ol.children) li.hidden = false; // measure every row afresh
  const bottom = ol.getBoundingClientRect().bottom;
  let over = false;
  for (const li of ol.children) {
    over = over || li.getBoundingClientRect().bottom > bottom + 0.5;
    li.hidden = over;
  }
}

function renderEvents() {
  $("ev-count").textContent = state.events.length ? String(state.events.length) : "";
  $("events").replaceChildren(...state.events.map((e) => {
    const sev = SEVERITY.includes(e.severity) ? e.severity : "info";
    const li = el("li", { class: sev + (state.fresh.has(e.id) ? " fresh" : ""), "data-id": e.id },
      el("time", { datetime: e.time }, since(e.time)),
      el("div", {}, el("span", { class: "dev" }, e.device || e.source || "–"), e.interface ? el("span", { class: "ifname" }, " " + e.interface) : null, el("span", { class: "sev" }, sev)),
      el("div", { class: "msg", title: e.message }, e.message || e.kind));
    return li;
  }));
  state.fresh.clear();
  fitRows($("events"));
}

// ---- alerts ------------------------------------------------------------------
const SEV_RANK = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };
const SEV_WORD = { info: "info", low: "low", medium: "med", high: "high", critical: "crit" };
const MAX_ALERT_ROWS = 6; // rows of the panel; the rest are summed up in one line
const MAX_WALL_ALERTS = 2500; // alerts the page keeps (the server holds at most 2000)

const sevRank = (a) => SEV_RANK[a.severity] ?? 0;
const muted = (a) => !!(a.silenced || a.suppressed_by);

// compareAlerts puts first what needs a human: alerts not muted, the most severe, firing
// before acknowledged, the newest.
function compareAlerts(a, b) {
  return muted(a) - muted(b) || sevRank(b) - sevRank(a) ||
    (a.state === "acknowledged") - (b.state === "acknowledged") ||
    b.started_ms - a.started_ms || b.id - a.id;
}

// alertAge writes how long an alert has been going: "<1 min", "12 min", "3 h 5 min", "2 d 4 h".
function alertAge(startedAt) {
  let s = (serverNow() - Date.parse(startedAt)) / 1000;
  if (Number.isNaN(s)) return "–";
  s = Math.max(0, s); // a start a moment "ahead" is the clocks' skew: it is new
  const m = Math.floor(s / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
  if (m < 1) return "<1 min";
  if (h < 1) return `${m} min`;
  if (d < 1) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

function entityText(e) {
  e = e || {};
  return [e.device && e.interface ? `${e.device} ${e.interface}` : e.device, !e.device ? e.host : null, e.site].filter(Boolean).join(" · ");
}

function renderAlerts() {
  document.body.classList.toggle("no-alerts", !state.correlator);
  if (!state.correlator) return;
  let list = [...state.alerts.values()].sort(compareAlerts);
  if (list.length > MAX_WALL_ALERTS) {
    // Keep the most important; the server's snapshot holds the rest if the page reloads.
    for (const a of list.slice(MAX_WALL_ALERTS)) state.alerts.delete(a.id);
    list = list.slice(0, MAX_WALL_ALERTS);
  }
  const total = list.length + state.alertsHidden;
  const active = list.filter((a) => !muted(a));
  const crit = active.filter((a) => a.severity === "critical").length;
  const countEl = $("al-count");
  countEl.textContent = total ? `${total} open` + (crit ? ` · ${crit} critical` : "") +
    (list.length - active.length ? ` · ${list.length - active.length} muted` : "") : "";
  countEl.classList.toggle("crit", crit > 0);
  $("al-none").hidden = total > 0;
  // The newest critical alert that is not muted stands out.
  let newest = null;
  for (const a of active) {
    if (a.severity === "critical" && (!newest || a.started_ms > newest.started_ms)) newest = a;
  }
  const shown = list.length > MAX_ALERT_ROWS ? list.slice(0, MAX_ALERT_ROWS - 1) : list;
  const rows = shown.map((a) => alertRow(a, a === newest));
  const rest = list.slice(shown.length);
  if (rest.length || state.alertsHidden) {
    const by = {};
    for (const a of rest) by[a.severity] = (by[a.severity] || 0) + 1;
    const parts = ["critical", "high", "medium", "low", "info"].filter((s) => by[s]).map((s) => `${by[s]} ${s}`);
    rows.push(el("li", { class: "al more" }, el("b", {}, `+${rest.length + state.alertsHidden} more`),
      parts.length ? " · " + parts.join(" · ") : ""));
  }
  $("al-list").replaceChildren(...rows);
  state.freshAlerts.clear();
}

function alertRow(a, newest) {
  const sev = SEV_RANK[a.severity] !== undefined ? a.severity : "info";
  const acked = a.state === "acknowledged";
  const cls = ["al", sev, acked ? "acknowledged" : "firing"];
  if (muted(a)) cls.push("muted");
  if (newest) cls.push("newest");
  if (state.freshAlerts.has(a.id) && !newest) cls.push("fresh");
  // Why a muted alert is muted: its root cause, by title when the wall has it, or its silence.
  let why = null;
  if (a.suppressed_by) {
    const root = state.alerts.get(a.suppressed_by);
    why = el("span", {}, "suppressed by ", el("b", {}, root ? root.title : `alert #${a.suppressed_by}`));
  } else if (a.silenced) {
    why = el("span", {}, "silenced", a.silence_id ? ` (${a.silence_id})` : "");
  }
  const notes = [];
  if (a.suppressed_count) notes.push(`root cause of ${a.suppressed_count}`);
  if (a.flapping) notes.push("flapping");
  if (a.count > 1) notes.push(`×${count(a.count)}`);
  const st = muted(a) ? el("span", { class: "st muted" }, a.suppressed_by ? "suppressed" : "silenced")
    : acked ? el("span", { class: "st ack", title: a.acked_at ? "acknowledged at " + since(a.acked_at) : null }, "✓ ack " + (a.acked_by || ""))
      : el("span", { class: "st" }, "firing");
  const sub = why ? [why, entityText(a.entity) ? " · " + entityText(a.entity) : ""]
    : [entityText(a.entity) || a.rule, notes.length ? " · " + notes.join(" · ") : ""];
  return el("li", { class: cls.join(" "), "data-id": a.id, "data-severity": sev, title: `${a.rule_title || a.rule} — ${a.title}` },
    el("span", { class: "sev" }, el("span", { class: "shape", "aria-hidden": "true" }), SEV_WORD[sev]),
    el("div", { class: "main" },
      el("div", { class: "title" }, newest ? el("span", { class: "tag" }, "NEW") : null, a.title || a.rule),
      el("div", { class: "al-sub" }, st, el("span", { class: "what" }, ...sub))),
    el("b", { class: "age", title: "since " + since(a.started_at) }, alertAge(a.started_at)));
}

// ---- packet capture ----------------------------------------------------------
// capRate writes a per-second rate short enough for a one-line tile: "152k", "2.4k", "35", "0.5".
function capRate(v) {
  v = Math.max(0, Number(v) || 0);
  if (v >= 1e6) return (v / 1e6).toFixed(v >= 1e7 ? 0 : 1) + "M";
  if (v >= 1e3) return (v / 1e3).toFixed(v >= 1e4 ? 0 : 1) + "k";
  if (v >= 10 || Math.abs(v - Math.round(v)) < 0.05) return Math.round(v).toString();
  return v.toFixed(1);
}

// capState is the one word a capture line leads with; its rank orders the lines.
const CAP_RANK = { dropping: 0, errors: 1, ok: 2, idle: 2, starting: 2 };
function capState(c) {
  const rated = c.interval_s > 0; // no rates until the second stats of a source
  if (!rated) return "starting";
  if (c.kernel_drops_per_s > 0) return "dropping";
  if (c.decode_errors_per_s > 0) return "errors";
  return c.seen_per_s > 0 ? "ok" : "idle";
}

// renderCapture shows one line per capture source, those in trouble first, at most
// MAX_CAP_LINES (every line is taken from the device tiles), and nothing without a source.
const MAX_CAP_LINES = 3;
function renderCapture() {
  const list = ((state.stats && state.stats.capture) || []).map((c, i) => ({ c, i, st: capState(c) }));
  list.sort((a, b) => CAP_RANK[a.st] - CAP_RANK[b.st] || a.i - b.i);
  document.body.classList.toggle("has-capture", list.length > 0);
  $("capture").hidden = list.length === 0;
  const shown = list.length > MAX_CAP_LINES ? list.slice(0, MAX_CAP_LINES - 1) : list;
  const lines = shown.map((x) => capLine(x.c, x.st));
  const rest = list.slice(shown.length);
  if (rest.length) {
    const bad = rest.filter((x) => x.st === "dropping" || x.st === "errors").length;
    lines.push(el("li", { class: "cap more" + (bad ? " errors" : "") },
      el("span", { class: "src" }, el("b", {}, `+${rest.length} more capture sources`),
        el("small", {}, bad ? `${bad} with drops or errors` : "all ok or idle"))));
  }
  $("cap-list").replaceChildren(...lines);
}

function capLine(c, st) {
  const rated = c.interval_s > 0;
  const drops = rated && c.kernel_drops_per_s > 0, errs = rated && c.decode_errors_per_s > 0;
  const r = (v) => rated ? capRate(v) : "–";
  const cell = (cls, v, label) => el("span", { class: "cell " + cls }, el("b", {}, v), el("small", {}, label));
  const title = `${c.source}: since start ${count(c.seen || 0)} packets seen, ${count(c.sampled || 0)} sampled, ` +
    `${count(c.decoded || 0)} decoded, ${count(c.observations || 0)} observations, ` +
    `${count(c.kernel_drops || 0)} dropped by the kernel, ${count(c.decode_errors || 0)} decode errors`;
  return el("li", { class: "cap " + st, "data-source": c.source, title },
    el("span", { class: "state" }, st),
    el("span", { class: "src" }, el("b", {}, c.source), el("small", {}, "packet capture")),
    cell("seen", r(c.seen_per_s), "pkt/s seen"),
    cell("rate", c.sample_rate > 1 ? "1:" + c.sample_rate : "all", "sampled"),
    cell("obs", r(c.observations_per_s), "obs/s"),
    cell("drops" + (drops ? " alarm" : ""), r(c.kernel_drops_per_s), "kernel drops/s"),
    cell("errs" + (errs ? " warn" : ""), r(c.decode_errors_per_s), "decode errors/s"));
}

// ---- clock and staleness -----------------------------------------------------
function tick() {
  const now = new Date();
  $("clock").textContent = hms(now);
  $("date").textContent = now.toLocaleDateString(undefined, { weekday: "short", year: "numeric", month: "short", day: "numeric" }) +
    " · UTC " + `${two(now.getUTCHours())}:${two(now.getUTCMinutes())}`;
  if (now - lastRender > 5000) schedule(); // relative times and stale tiles age
  if (state.live) {
    const quiet = Date.now() - state.lastMessage;
    if (quiet > state.staleAfter) setConn("stale", `stale ${Math.round(quiet / 1000)}s`);
    else if (!$("conn").classList.contains("live")) setConn("live", "live");
  }
}

tick();
setInterval(tick, 1000);
takeToken();
connect();
