// Watchfloor wall: one WebSocket, a snapshot, then deltas. No framework, no network but
// this server. Every text that comes from devices is set with textContent, never as HTML.
"use strict";

const TOKEN_KEY = "watchfloor.token";
const ROLES = ["core", "distribution", "access", "firewall"];
const MAX_EVENTS = 100;
const SEVERITY = ["info", "low", "medium", "high", "critical"];

// "sites" only on central (a snapshot with sites): panels() leaves it out elsewhere.
const PANELS = ["sites", "map", "alerts", "traffic", "events", "health", "posture"];
const LATENCY_RING = 2048; // latencies the page keeps for tests and benchmarks
const RETRY_CAP_MS = 30000; // reconnect backoff: 1 s, 2 s, 4 s … up to this, with jitter

const state = {
  site: "", devices: new Map(), events: [], links: [], stats: null, flows: null,
  staleAfter: 60000, lastMessage: 0, live: false, fresh: new Set(), skew: 0, skewSet: false,
  posture: null, trend: [], lastSnapshot: 0,
  // Open alerts by ID; correlator is false until the stream says there is one. alertsHidden
  // counts the open alerts the snapshot left out (it carries the most important 500).
  alerts: new Map(), correlator: false, alertsHidden: 0, freshAlerts: new Set(),
  // Central's sites (the latest sites report), null on an appliance; siteFilter is the site
  // the wall is drilled into (?site=), "" for all of them.
  sites: null, siteFilter: new URL(location.href).searchParams.get("site") || "",
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
// One socket at a time. When it closes the wall says so at once (the stale banner and
// "reconnecting in N s"), then reconnects with exponential backoff and full jitter
// (1 s, 2 s, 4 s … capped at RETRY_CAP_MS); the server's snapshot on the new socket replaces
// everything the wall knew.
let ws = null, retry = 0, retryTimer = 0, retryAt = 0, connState = "connecting";

function connect() {
  clearTimeout(retryTimer);
  retryAt = 0;
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) { askToken(); return; }
  const url = new URL("api/v1/stream", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("token", token);
  let opened = false;
  const sock = new WebSocket(url);
  ws = sock;
  if (connState !== "live") setConn("connecting", retry ? "reconnecting" : "connecting");
  sock.onopen = () => { opened = true; };
  sock.onmessage = (ev) => {
    if (sock !== ws) return;
    state.lastMessage = Date.now();
    let msg;
    try { msg = JSON.parse(ev.data); } catch (err) { console.error("wall: bad message", err); return; }
    handle(msg);
  };
  sock.onclose = () => {
    if (sock !== ws) return;
    ws = null;
    state.live = false;
    if (!opened) checkToken(token);
    const delay = Math.round(Math.min(RETRY_CAP_MS, 1000 * 2 ** retry) * (0.5 + Math.random() / 2));
    retry = Math.min(retry + 1, 10);
    retryAt = Date.now() + delay;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, delay);
    showConn();
  };
}

// showConn sets the connection badge and the stale banner from the socket and the clock.
function showConn() {
  const now = Date.now();
  const quiet = state.lastMessage ? now - state.lastMessage : 0;
  let cls = "live", text = "live", why = "";
  if (!state.live) {
    const secs = retryAt ? Math.max(0, Math.ceil((retryAt - now) / 1000)) : 0;
    cls = retryAt ? "reconnecting" : "connecting";
    text = retryAt ? (secs > 0 ? `reconnecting in ${secs}s` : "reconnecting…") : "connecting";
    why = state.lastMessage ? `connection lost · last update ${duration(quiet / 1000)} ago at ${hms(new Date(state.lastMessage))}` : "";
  } else if (quiet > state.staleAfter) {
    cls = "stale"; text = `stale ${Math.round(quiet / 1000)}s`;
    why = `no update for ${duration(quiet / 1000)} (expected within ${Math.round(state.staleAfter / 1000)} s)`;
  }
  setConn(cls, text);
  const stale = cls === "stale" || (cls !== "live" && state.lastMessage > 0);
  const banner = $("stale-banner");
  if (banner.hidden === stale) banner.hidden = !stale;
  document.body.classList.toggle("stale", stale);
  if (stale) {
    $("stale-why").textContent = why;
    $("stale-retry").textContent = cls === "stale" ? "" : text;
  }
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
  connState = cls;
  const c = $("conn");
  if (c.className !== "conn " + cls) c.className = "conn " + cls;
  if ($("conn-text").textContent !== text) $("conn-text").textContent = text;
  if (cls !== "connecting") document.body.classList.remove("connecting");
}

// ---- messages --------------------------------------------------------------
// handle applies a message to the state and marks what must be drawn again; drawing waits
// for the next animation frame (frame), so a burst of messages costs one render per frame.
function handle(msg) {
  if (typeof msg.ts === "number") {
    // The server's clock as this browser sees it: the smallest offset is the truest (the
    // others include the time the message travelled).
    const off = msg.ts - Date.now();
    if (!state.skewSet || off > state.skew) { state.skew = off; state.skewSet = true; }
    if (msg.type !== "snapshot") notePending(msg.ts);
  }
  switch (msg.type) {
    case "snapshot":
      state.site = msg.site || "";
      state.staleAfter = msg.stale_after_ms || 60000;
      state.devices = new Map((msg.devices || []).map((d) => [d.name, d]));
      state.events = (msg.events || []).slice().reverse().slice(0, MAX_EVENTS);
      eventRows = new Map();
      state.links = msg.topology || [];
      state.stats = msg.stats || null;
      state.flows = msg.flows || null;
      if (typeof msg.ts !== "number") { state.skew = Date.parse(msg.server_time) - Date.now() || 0; state.skewSet = true; }
      state.correlator = Array.isArray(msg.alerts);
      state.alerts = new Map((msg.alerts || []).map((a) => [a.id, Object.assign(a, { started_ms: Date.parse(a.started_at) || 0 })]));
      state.alertsHidden = Math.max(0, (msg.alerts_open || 0) - state.alerts.size);
      state.posture = msg.posture ? msg.posture.posture : null;
      state.trend = (msg.posture && msg.posture.trend) || [];
      sitesChanged(msg.sites || null);
      state.live = true;
      state.lastSnapshot = Date.now();
      retry = 0;
      showConn();
      dirty("all");
      return;
    case "device":
      state.devices.set(msg.device.name, msg.device);
      changedDevices.add(msg.device.name);
      dirty("devices");
      return;
    case "events":
      for (const e of msg.events || []) {
        if (state.events.some((x) => x.id === e.id)) continue;
        state.events.unshift(e);
        state.fresh.add(e.id);
      }
      state.events.length = Math.min(state.events.length, MAX_EVENTS);
      dirty("events");
      return;
    case "topology":
      state.links = msg.links || [];
      dirty("devices");
      return;
    case "stats":
      state.stats = msg.stats;
      if (msg.posture) postureChanged(msg.posture);
      dirty("stats");
      return;
    case "flows":
      state.flows = msg.flows || null;
      dirty("flows");
      return;
    case "alert":
      alertChanged(msg.alert);
      dirty("alerts");
      return;
    case "sites":
      sitesChanged(msg);
      dirty("sites");
      return;
    default:
  }
}

// postureChanged takes the score of a stats message into the state and extends the trend as
// the server does: one point per 5 minutes, the last score of each, 24 hours of them.
const POSTURE_STEP = 5 * 60000, POSTURE_POINTS = 288;
function postureChanged(p) {
  state.posture = p;
  const t = Date.parse(p.time);
  if (!(t > 0)) return;
  const step = t - t % POSTURE_STEP;
  const last = state.trend[state.trend.length - 1];
  if (last && last[0] === step) last[1] = p.score;
  else if (!last || step > last[0]) state.trend.push([step, p.score]);
  while (state.trend.length && state.trend[0][0] < step - POSTURE_STEP * (POSTURE_POINTS - 1)) state.trend.shift();
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

// ---- coalesced rendering ---------------------------------------------------
// Messages only change the state and mark parts dirty; one requestAnimationFrame callback
// draws what is dirty, so however many messages arrive, the page renders at most once per
// frame. Each frame records its latency: the time from the server's send time (ts) of the
// oldest message it is the first to show to the frame, into wfWall.latencies (ms).
const dirtyParts = new Set();
const changedDevices = new Set(); // devices whose tile alone must be drawn again
let framePending = false, oldestTs = 0, lastRender = 0, lastFull = 0, fitSig = "", fitRoomSig = "", lastFitRows = 0, fitTimer = 0;
const FIT_EVERY = 250;
// The lists whose rows are fitted to their room (fitRows), and how often their room changed.
const FIT_LISTS = ["fl-src", "fl-dst", "fl-port", "links", "events"];
let listRoom = 0, talkersUnfit = false;
const listSizes = new Map();
const roomObserver = new ResizeObserver((entries) => {
  let changed = false;
  for (const e of entries) {
    const size = Math.round(e.contentRect.width) + "x" + Math.round(e.contentRect.height);
    if (listSizes.get(e.target.id) !== size) { listSizes.set(e.target.id, size); changed = true; }
  }
  if (changed) { listRoom++; dirty("room"); }
});
const wall = window.wfWall = { latencies: [], frames: 0, messages: 0, cost: {}, calls: {}, state };

function notePending(ts) {
  wall.messages++;
  if (!oldestTs || ts < oldestTs) oldestTs = ts;
}

function dirty(part) {
  dirtyParts.add(part);
  if (!framePending) {
    framePending = true;
    requestAnimationFrame(frame);
  }
}

function frame() {
  framePending = false;
  const parts = new Set(dirtyParts);
  dirtyParts.clear();
  const all = parts.has("all");
  const has = (...ps) => all || ps.some((p) => parts.has(p));
  lastRender = Date.now();
  if (all) {
    lastFull = lastRender;
    remSize = remPx();
    document.title = (state.site ? state.site + " · " : "") + "Watchfloor wall";
    $("site").textContent = state.site || "Watchfloor";
    $("he-site").textContent = state.site;
  }
  const devices = visibleDevices();
  const sig = devices.map((d) => d.name + d.status + (d.interfaces || []).length).join() + "|" +
    (document.body.classList.contains("has-capture") ? $("cap-list").children.length : 0);
  // One panel that fails to draw must not stop the others.
  const draw = (fn, ...args) => {
    const t0 = performance.now();
    try { fn(...args); } catch (err) { console.error("wall: " + fn.name, err); }
    wall.cost[fn.name] = (wall.cost[fn.name] || 0) + performance.now() - t0;
    wall.calls[fn.name] = (wall.calls[fn.name] || 0) + 1;
  };
  if (has("devices", "stats")) draw(renderKPIs, devices);
  // A poll that changed no device's state redraws that device's tile only.
  if (all || parts.has("flows") || sig !== fitSig) draw(renderDevices, devices);
  else if (parts.has("devices")) draw(renderTiles, changedDevices);
  changedDevices.clear();
  if (has("devices", "flows", "alerts")) draw(renderLinks, devices);
  if (has("flows")) draw(renderFlows);
  if (has("stats")) { draw(renderCapture); draw(renderHealth); draw(renderPosture); }
  if (has("alerts")) draw(renderAlerts);
  if (has("sites", "alerts")) draw(renderSites);
  if (has("sites")) draw(renderHealth);
  if (has("events")) draw(renderEvents);
  // Fitting the lists measures the page: on full renders, and when the rows' room may have
  // changed (alerts and capture lines take room from them). Other frames draw the number
  // of rows found then.
  // A ResizeObserver on the lists (listRoom) tells of any other change of their room (the
  // posture, health and capture panels growing, the window); new talkers need a measure too.
  const roomSig = [$("al-list").children.length, $("cap-list").children.length, $("he-list").children.length,
    document.body.className, !!state.flows, listRoom].join();
  // Measuring costs a layout of the page: at most every FIT_EVERY ms in a storm of changes.
  if (roomSig !== fitRoomSig || all || talkersUnfit) {
    const wait = lastFitRows + FIT_EVERY - lastRender;
    if (all || wait <= 0) {
      fitRoomSig = roomSig; lastFitRows = lastRender; talkersUnfit = false;
      for (const id of FIT_LISTS) draw(fitRows, $(id));
    } else if (!fitTimer) {
      fitTimer = setTimeout(() => { fitTimer = 0; dirty("room"); }, wait);
    }
  }
  // Fitting the tiles measures the page several times: only when what decides their size
  // changed (the devices, their states and ports, the capture lines, the window).
  if (all || sig !== fitSig) { fitSig = sig; draw(fit); }
  if (has("devices", "flows", "stats")) draw(renderMap, devices); // after fit: the map takes the room the tiles leave
  if (oldestTs) {
    const l = wall.latencies;
    l.push(Date.now() - oldestTs);
    if (l.length > LATENCY_RING) l.splice(0, l.length - LATENCY_RING);
    oldestTs = 0;
  }
  wall.frames++;
}

// render draws everything again (a layout change, the clock's slow aging of times).
function render() { dirty("all"); }

// fit picks the least dense layout in which every tile is on the screen, with tiles as wide
// as lets whole columns fill the width.
// Widths are in rem (16 px at 1080p), so the wall keeps its proportions at 4K.
const TILE_WIDTHS = [20, 16.875, 14.0625, 9.375, 7.375], TILE_GAP = 0.75;
const remPx = () => parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
let remSize = 16; // remPx() as of the last full render
function fit() {
  const box = $("devices");
  if (box.offsetParent === null) return; // not shown (a panel layout without it)
  const rem = remPx(), gap = TILE_GAP * rem;
  // A site too large for its tiles beside a full map gets a low map (crowded).
  for (const crowded of [false, true]) {
    document.body.classList.toggle("crowded", crowded);
    for (let level = 0; level < TILE_WIDTHS.length; level++) {
      const cols = Math.max(1, Math.floor((box.clientWidth + gap) / (TILE_WIDTHS[level] * rem + gap)));
      box.style.setProperty("--tile", Math.floor((box.clientWidth + gap) / cols - gap) + "px");
      document.body.dataset.density = level;
      if (box.scrollHeight <= box.clientHeight + 1) return;
    }
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

function renderTiles(names) {
  for (const name of names) {
    const d = state.devices.get(name);
    const old = d && document.querySelector(`#devices .tile[data-device="${CSS.escape(name)}"]`);
    if (old) old.replaceWith(tile(d));
  }
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
  $("links").replaceChildren(...rows.slice(0, fitCount.links ?? 8).map(({ d, i, rate, to }) => {
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

// ---- site map ------------------------------------------------------------------
// The topology as an SVG diagram in layers by role (firewall, core, distribution, access,
// then the rest and the neighbours that are not monitored). A device is a box with its
// name and state in words; down is red, dashed, crossed and says DOWN. A link is a line as
// wide and as hot as its load; a down link is red, dashed, with ✕ and DOWN on it.
const SVGNS = "http://www.w3.org/2000/svg";
const MAP_LAYERS = ["firewall", "core", "distribution", "access"];

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v);
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

// linkState is what the map shows of one link: its state word and its load (% of speed).
function linkState(l) {
  const da = state.devices.get(l.a), db = state.devices.get(l.b);
  const ia = da && (da.interfaces || []).find((i) => i.name === l.a_port);
  const ib = db && (db.interfaces || []).find((i) => i.name === l.b_port);
  const ports = [ia, ib].filter(Boolean);
  let st = "up";
  if ((da && da.status === "down") || (db && db.status === "down")) st = "down";
  else if (ports.some((i) => portState(i) === "down")) st = "down";
  else if (ports.some((i) => portState(i) === "admin")) st = "admin";
  else if (ports.length === 0 || ports.every((i) => portState(i) === "unread")) st = "unknown";
  const util = st === "up" ? Math.max(0, ...ports.map((i) => i.utilization || 0)) : 0;
  const bps = st === "up" ? Math.max(0, ...ports.map((i) => Math.max(i.in_bps || 0, i.out_bps || 0))) : 0;
  return { st, util, bps };
}

// The map box's size, kept by a ResizeObserver so that drawing reads no layout.
let mapW = 0, mapH = 0;
new ResizeObserver((entries) => {
  for (const e of entries) {
    const w = Math.round(e.contentRect.width), h = Math.round(e.contentRect.height);
    if (w !== mapW || h !== mapH) { mapW = w; mapH = h; dirty("devices"); }
  }
}).observe(document.getElementById("map-box"));

function renderMap(devices) {
  const root = $("map-svg");
  if (!mapW || !mapH) return; // not shown
  const W = Math.max(100, mapW), H = Math.max(80, mapH);
  root.setAttribute("viewBox", `0 0 ${W} ${H}`);
  root.setAttribute("width", W);
  root.setAttribute("height", H);
  const rem = remSize;
  // Layers: monitored devices by role, then neighbours the site does not poll.
  const known = new Set(devices.map((d) => d.name));
  // Drilled into a site: its devices, and the links that touch one of them.
  const links = state.siteFilter ? state.links.filter((l) => known.has(l.a) || known.has(l.b)) : state.links;
  const external = new Set();
  for (const l of links) for (const n of [l.a, l.b]) if (!known.has(n)) external.add(n);
  const layers = new Map();
  const layerOf = (role) => { const i = MAP_LAYERS.indexOf(role); return i < 0 ? MAP_LAYERS.length : i; };
  for (const d of devices) {
    const k = layerOf(d.role);
    if (!layers.has(k)) layers.set(k, []);
    layers.get(k).push({ name: d.name, d });
  }
  if (external.size) layers.set(MAP_LAYERS.length + 1, [...external].sort().map((name) => ({ name, d: null })));
  const order = [...layers.keys()].sort((a, b) => a - b);
  const down = devices.filter((d) => d.status === "down").length;
  $("map-count").textContent = devices.length ? `${devices.length} devices · ${links.length} link${links.length === 1 ? "" : "s"}` + (down ? ` · ${down} down` : "") : "";
  if (devices.length === 0) { root.replaceChildren(svg("text", { x: W / 2, y: H / 2, class: "map-empty", "text-anchor": "middle" }, "Waiting for the first poll…")); return; }
  // Order each layer by the mean position of its neighbours in the layers above (one
  // barycentre pass), so that links cross less.
  const peers = new Map();
  for (const l of links) {
    if (!peers.has(l.a)) peers.set(l.a, []);
    if (!peers.has(l.b)) peers.set(l.b, []);
    peers.get(l.a).push(l.b); peers.get(l.b).push(l.a);
  }
  // Each layer is one row, wrapped into several when its boxes would be narrower than
  // MIN_NODE rem. When even that leaves rows too low for a name, the map shows each device as
  // a small square (dot mode), and names only the devices that are down.
  const MIN_NODE = 5.5;
  const perRow = Math.max(1, Math.floor(W / (MIN_NODE * rem)));
  const rows = [], rank = new Map(); // rank: where in its layer (0–1) a placed node is
  order.forEach((k, li) => {
    const list = layers.get(k);
    list.sort((a, b) => a.name.localeCompare(b.name));
    if (li > 0) {
      const bc = (n) => { const xs = (peers.get(n.name) || []).filter((p) => rank.has(p)).map((p) => rank.get(p)); return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : Infinity; };
      const key = new Map(list.map((n) => [n.name, bc(n)]));
      list.sort((a, b) => key.get(a.name) - key.get(b.name) || a.name.localeCompare(b.name));
    }
    list.forEach((n, i) => rank.set(n.name, (i + 0.5) / list.length));
    rows.push(list);
  });
  // The neighbours the site does not poll are chips, in the order of their peers, on rows of
  // their own below the devices: staggered (the i-th on row i mod rows, each in a slot of
  // its own across the whole width), so that the chips of one row leave gaps for the links
  // to the next, and as many rows (up to MAX_CHIP_ROWS) as their names need; a name longer
  // than its chip is cut with "…" (whole on hover). When a chip would be narrower than
  // MIN_CHIP rem, they are small unnamed squares (named on hover).
  const ext = external.size ? rows.pop() : [];
  // A neighbour all of whose links are down is cut off: said with ✕ and a red dashed outline.
  const extLinks = new Map();
  for (const l of links) for (const n of [l.a, l.b]) if (external.has(n)) {
    if (!extLinks.has(n)) extLinks.set(n, []);
    extLinks.get(n).push(l);
  }
  const cut = (name) => (extLinks.get(name) || []).every((l) => linkState(l).st === "down");

  const CHIP_FONT = 0.8, CHIP_CHAR = 0.6 * CHIP_FONT * rem, CHIP_PAD = 0.45 * rem, CHIP_GAP = 0.5 * rem, MAX_CHIP_ROWS = 3, CHIP_ROW = 0.6, MIN_CHIP = 4.5;
  // With k rows, the i-th chip's centre is at w/2 + i·(W − w)/(n − 1), and chips k apart (one
  // row) must be a gap apart: w ≤ (k·W − gap·(n − 1)) / (n − 1 + k).
  const slot = ext.length ? W / ext.length : W;
  const chipNeed = Math.min(11 * rem, Math.max(0, ...ext.map((n) => n.name.length + (cut(n.name) ? 2 : 0))) * CHIP_CHAR + 2 * CHIP_PAD);
  const chipMax = (k) => ext.length <= 1 ? W - CHIP_GAP : (k * W - CHIP_GAP * (ext.length - 1)) / (ext.length - 1 + k);
  let chipRows = 0;
  if (ext.length) { chipRows = 1; while (chipRows < MAX_CHIP_ROWS && chipMax(chipRows) < chipNeed) chipRows++; }
  let wrapped = [];
  for (const list of rows) for (let i = 0; i < list.length; i += perRow) wrapped.push(list.slice(i, i + perRow));
  let chips = chipRows > 0 && chipMax(chipRows) >= MIN_CHIP * rem;
  if (!chips && ext.length) chipRows = 1;
  // Device rows are 1 unit high, chip rows CHIP_ROW; chips want 1.35 rem of height.
  let unit = H / (wrapped.length + CHIP_ROW * chipRows);
  if (chips && CHIP_ROW * unit < 1.7 * rem) { chips = false; chipRows = 1; unit = H / (wrapped.length + CHIP_ROW); }
  const dots = unit < 2.4 * rem;
  if (dots) { wrapped = rows; chips = false; chipRows = ext.length ? 1 : 0; unit = H / (wrapped.length + CHIP_ROW * chipRows); }
  const pos = new Map();
  const rowH = unit, chipH = Math.min(1.35 * rem, CHIP_ROW * unit * 0.8);
  const maxPer = Math.max(1, ...wrapped.map((r) => r.length));
  const nodeW = dots ? Math.max(0.5 * rem, Math.min(1.2 * rem, W / maxPer * 0.7)) : Math.min(11 * rem, (W - rem) / maxPer - 0.5 * rem);
  const nodeH = dots ? Math.min(nodeW, rowH * 0.5) : Math.min(3.4 * rem, rowH * 0.7);
  const small = dots || nodeH < 2.6 * rem;
  wrapped.forEach((list, li) => {
    const step = W / list.length;
    list.forEach((n, i) => pos.set(n.name, { x: step * (i + 0.5), y: rowH * (li + 0.5), n }));
  });
  const chipW = chips ? Math.min(chipNeed, chipMax(chipRows)) : Math.max(0.5 * rem, Math.min(0.9 * rem, slot * 0.6));
  const chipX = (i) => ext.length <= 1 ? W / 2 : chipW / 2 + 1 + i * (W - chipW - 2) / (ext.length - 1);
  ext.forEach((n, i) => pos.set(n.name, { x: chipX(i), y: rowH * wrapped.length + CHIP_ROW * unit * (i % chipRows + 0.5), n }));
  const edges = links.filter((l) => pos.has(l.a) && pos.has(l.b)).map((l) => {
    const a = pos.get(l.a), b = pos.get(l.b), s = linkState(l);
    const w = s.st === "up" ? (0.2 + 0.5 * Math.min(100, s.util) / 100) * rem : 0.2 * rem;
    const col = s.st === "up" ? heat(s.util) : s.st === "down" ? "#ff3b5c" : "#6b7589";
    const mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2;
    // Links to neighbours carry no label: their chips would be crowded by them (a cut-off
    // neighbour says ✕ itself; width and colour still give the load).
    const label = external.has(l.a) || external.has(l.b) ? null : s.st === "down" ? "✕ DOWN" : s.st === "admin" ? "admin down" : s.st === "up" && s.util >= 1 ? `${s.util.toFixed(0)}%` : null;
    return svg("g", { class: `link ${s.st}`, "data-link": `${l.a} ${l.a_port} ${l.b} ${l.b_port}`, "data-state": s.st },
      svg("title", {}, `${l.a} ${l.a_port} ↔ ${l.b} ${l.b_port}: ${s.st}` + (s.st === "up" ? ` · ${s.util.toFixed(1)}% · ${bitRate(s.bps)}` : "")),
      svg("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, stroke: col, "stroke-width": w.toFixed(1) }),
      label && !small ? svg("g", { class: "lbl", transform: `translate(${mx.toFixed(1)} ${my.toFixed(1)})` },
        svg("rect", { x: -(label.length * 0.36 + 0.4) * rem, y: -0.62 * rem, width: (label.length * 0.72 + 0.8) * rem, height: 1.24 * rem, rx: 0.25 * rem }),
        svg("text", { "text-anchor": "middle", dy: "0.35em" }, label)) : null);
  });
  const nodes = [...pos.values()].map(({ x, y, n }) => {
    const d = n.d;
    if (!d) return chip(n.name, x, y, chipW, chips ? chipH : chipW, chips, cut(n.name), rem, slot);
    const st = d.status === "down" ? "down" : d.status === "up" ? (deviceStale(d) ? "stale" : "up") : "unknown";
    const word = { up: "UP", down: "DOWN", unknown: "NOT POLLED", stale: "STALE", external: "not monitored" }[st];
    const ifDown = d ? (d.interfaces || []).filter((i) => portState(i) === "down").length : 0;
    const x0 = x - nodeW / 2, y0 = y - nodeH / 2;
    if (dots) {
      return svg("g", { class: `node dot ${st}`, "data-node": n.name, "data-state": st },
        svg("title", {}, `${n.name}: ${word}`),
        svg("rect", { x: x0.toFixed(1), y: y0.toFixed(1), width: nodeW.toFixed(1), height: nodeH.toFixed(1), rx: 0.15 * rem }),
        st === "down" ? svg("text", { x, y: y0 - 0.25 * rem, class: "dl", "text-anchor": "middle" }, `✕ ${n.name} DOWN`) : null);
    }
    return svg("g", { class: `node ${st}`, "data-node": n.name, "data-state": st },
      svg("title", {}, `${n.name}${d ? " (" + (d.role || "device") + ")" : ""}: ${word}` + (ifDown ? `, ${ifDown} interfaces down` : "")),
      svg("rect", { x: x0.toFixed(1), y: y0.toFixed(1), width: nodeW.toFixed(1), height: nodeH.toFixed(1), rx: 0.4 * rem }),
      st === "down" ? svg("path", { class: "x", d: `M${x0 + 0.35 * rem} ${y0 + 0.35 * rem}l${0.9 * rem} ${0.9 * rem}m0 ${-0.9 * rem}l${-0.9 * rem} ${0.9 * rem}` }) : null,
      svg("text", { x, y: small ? y : y - 0.3 * rem, class: "nm", "text-anchor": "middle", dy: small ? "0.35em" : null }, n.name),
      small ? null : svg("text", { x, y: y + 1.05 * rem, class: "st", "text-anchor": "middle" }, word + (ifDown && st !== "down" ? ` · ${ifDown} port${ifDown > 1 ? "s" : ""} down` : "")));
  });
  root.replaceChildren(svg("g", { class: "map-links" }, edges), svg("g", { class: "map-nodes" }, nodes));
}

// chip draws a neighbour the site does not poll: a chip with its name (cut to fit, whole on
// hover), or a small square without one (named when cut off).
function chip(name, x, y, w, h, named, isCut, rem, slot) {
  const st = isCut ? "external cut" : "external";
  const room = Math.floor((w - 0.9 * rem) / (0.6 * 0.8 * rem));
  const label = (isCut ? "✕ " : "") + name;
  const text = label.length > room ? label.slice(0, Math.max(1, room - 1)) + "…" : label;
  return svg("g", { class: `node ${st}${named ? " chip" : " dot"}`, "data-node": name, "data-state": isCut ? "cut" : "external" },
    svg("title", {}, `${name}: not monitored (an LLDP neighbour)` + (isCut ? ", every link to it down" : "")),
    svg("rect", { x: (x - w / 2).toFixed(1), y: (y - h / 2).toFixed(1), width: w.toFixed(1), height: h.toFixed(1), rx: named ? 0.3 * rem : 0.15 * rem }),
    named ? svg("text", { x, y, class: "nm", "text-anchor": "middle", dy: "0.35em" }, text)
      : isCut ? svg("text", { x, y: y - h / 2 - 0.25 * rem, class: "dl", "text-anchor": "middle" }, (name.length + 2) * 0.5 * rem < slot ? `✕ ${name}` : "✕") : null);
}

function deviceStale(d) {
  return d.status === "up" && d.last_poll && serverNow() - Date.parse(d.last_poll) > state.staleAfter;
}

// ---- collector health --------------------------------------------------------
// One line per collector of the site: its state in a word (ok, dropping, errors, idle,
// starting), what it takes in per second and what it loses.
const COLLECTOR_NAMES = { snmp: "SNMP", traps: "Traps", flows: "Flows", packets: "Packets", ingest: "Ingest" };
function collectorState(c) {
  if (!(c.interval_s > 0)) return "starting";
  if (c.drops_per_s > 0) return "dropping";
  if (c.errors_per_s > 0) return "errors";
  return c.records_per_s > 0 ? "ok" : "idle";
}

function renderHealth() {
  $("he-title").textContent = state.siteFilter ? "Site health" : "Collector health";
  $("he-site").textContent = state.siteFilter || state.site;
  if (state.siteFilter) { renderSiteHealth(); return; }
  const s = state.stats || {};
  const list = s.collectors || [];
  const rows = list.map((c) => {
    const st = collectorState(c), rated = c.interval_s > 0;
    const r = (v) => rated ? capRate(v) : "–";
    return el("li", { class: "he " + st, "data-collector": c.name, title: `${c.name}: since start ${count(c.records || 0)} ${c.unit || "records"}, ${count(c.drops || 0)} dropped, ${count(c.errors || 0)} errors` },
      el("span", { class: "state" }, st),
      el("span", { class: "nm" }, COLLECTOR_NAMES[c.name] || c.name),
      el("span", { class: "cell rate" }, el("b", {}, r(c.records_per_s)), el("small", {}, (c.unit || "records") + "/s")),
      el("span", { class: "cell drops" + (rated && c.drops_per_s > 0 ? " alarm" : "") }, el("b", {}, r(c.drops_per_s)), el("small", {}, "drops/s")),
      el("span", { class: "cell errs" + (rated && c.errors_per_s > 0 ? " warn" : "") }, el("b", {}, r(c.errors_per_s)), el("small", {}, "errors/s")));
  });
  if (rows.length === 0) {
    rows.push(el("li", { class: "he none" }, state.stats ? `all collectors: ${count(s.records_per_s || 0)} records/s · ${count(s.dropped_per_s || 0)} dropped/s` : "No collector stats yet."));
  }
  $("he-list").replaceChildren(...rows);
}

// ---- security posture --------------------------------------------------------
const POSTURE_SHAPE = { good: "●", fair: "▲", poor: "◆" };
function renderPosture() {
  const p = state.posture;
  const box = $("posture");
  if (!p) { $("po-num").textContent = "–"; $("po-word").textContent = "no data"; box.dataset.word = ""; return; }
  box.dataset.word = p.word;
  $("po-num").textContent = Math.round(p.score);
  $("po-word").textContent = `${POSTURE_SHAPE[p.word] || ""} ${p.word}`;
  $("po-time").textContent = state.siteFilter ? "all sites · 24 h" : "of 100 · last 24 h";
  const why = [];
  if (p.alert_penalty) why.push(`alerts −${p.alert_penalty}`);
  if (p.device_penalty) why.push(`devices down −${p.device_penalty}`);
  if (p.blind_penalty) why.push(`data loss −${p.blind_penalty}`);
  const a = p.alerts || {};
  const counts = ["critical", "high", "medium", "low"].filter((k) => a[k]).map((k) => `${a[k]} ${k}`);
  $("po-why").textContent = why.length ? why.join(" · ") + (counts.length ? ` (${counts.join(", ")})` : "") : "nothing takes points off";
  sparkline($("po-spark"), state.trend);
}

// sparkline draws the trend (0–100) into an SVG, with the good and fair thresholds.
// The drawing is in its own units (300×60), stretched to the box: no layout to read.
let sparkSig = "";
function sparkline(root, pts) {
  const W = 300, H = 60;
  root.setAttribute("preserveAspectRatio", "none");
  const last0 = pts[pts.length - 1];
  const sig = [W, H, pts.length, last0 && last0[0], last0 && last0[1]].join();
  if (sig === sparkSig) return;
  sparkSig = sig;
  root.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const end = pts.length ? pts[pts.length - 1][0] : Date.now();
  const span = POSTURE_STEP * (POSTURE_POINTS - 1);
  const x = (t) => W - (end - t) / span * W;
  const y = (v) => H - 2 - (H - 4) * Math.max(0, Math.min(100, v)) / 100;
  const line = pts.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)} ${y(p[1]).toFixed(1)}`).join("");
  const last = pts[pts.length - 1];
  root.replaceChildren(
    svg("line", { class: "th good", x1: 0, x2: W, y1: y(80), y2: y(80) }),
    svg("line", { class: "th fair", x1: 0, x2: W, y1: y(50), y2: y(50) }),
    pts.length ? svg("path", { class: "tr", d: pts.length === 1 ? `M${x(last[0]) - 4} ${y(last[1])}h4` : line }) : null,
    last ? svg("path", { class: "now", d: `M${x(last[0]).toFixed(1)} ${y(last[1]).toFixed(1)}h0.01` }) : null);
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
  $("fl-window").textContent = (stale ? `flow data ${duration(age / 1000)} old`
    : f.live ? `live · last ${Math.round(f.seconds)} s` : `${hm(new Date(Date.parse(f.start)))}–${hm(new Date(end))}`) +
    (state.siteFilter ? " · all sites" : "");
  talkerList($("fl-src"), f.src, (r) => r.key, (r) => r.device);
  talkerList($("fl-dst"), f.dst, (r) => r.key, (r) => r.device);
  talkerList($("fl-port"), f.port, (r) => r.key, (r) => SERVICES[r.key] || "");
  const t = f.totals || {};
  $("fl-total").replaceChildren(el("span", {}, "all exporters ", el("b", {}, bitRate(t.bps)), ` · ${count(t.pps || 0)} pkt/s · ${count(t.flows || 0)} flows`));
  if (t.overflow > 0) $("fl-total").append(el("span", { class: "ovf" }, ` · ${count(t.overflow)} records over table bounds`));
}

// talkerList shows rows best first, each with a bar proportional to the top one, as many as
// fitted when the lists were last measured (fitRows, at most every FIT_EVERY ms; the CSS keeps
// a row that does not fit whole out of sight until then). It reads no layout.
function talkerList(ol, rows, key, note) {
  rows = rows || [];
  if (rows.length === 0) { ol.replaceChildren(el("li", { class: "none" }, "No traffic in this interval.")); return; }
  const top = Math.max(1, rows[0].bps || 0);
  const fits = fitCount[ol.id] ?? Infinity;
  if (fits === Infinity) talkersUnfit = true; // not measured yet, or all fitted: these may not
  ol.replaceChildren(...rows.map((r, i) => el("li", { hidden: i >= fits, "data-key": key(r), title: `${key(r)} via ${r.device || "?"}` + (r.devices > 1 ? ` (seen by ${r.devices} exporters)` : "") + ` · ${count(r.pps)} pkt/s` },
    el("div", { class: "fill", style: `width:${Math.max(0.5, Math.min(100, 100 * (r.bps || 0) / top)).toFixed(1)}%` }),
    el("span", { class: "k" }, key(r), note(r) ? el("small", {}, " " + note(r)) : null),
    el("span", { class: "r" }, bitRate(r.bps)))));
}

// fitRows hides the rows of a clipped list that do not fit whole, rather than cut one in half.
// It reads every position first and then writes, so that the page lays out once. Between
// two measures the CSS keeps a talker row that would be cut out of sight: a talker list is a
// column that wraps, and what wraps goes to a second column outside the list's box (to its
// left). Not links and events: a wrapping column is a slower layout, and they change often.
const fitCount = {}; // by list id: how many rows fitted when last measured (talkers: Infinity, all)
function fitRows(ol) {
  if (ol.offsetParent === null) return; // not shown in this layout
  if (ol.id in fitCount) { // draw all the candidates again, to measure them
    delete fitCount[ol.id];
    if (ol.id === "events") renderEvents();
    if (ol.id === "links") renderLinks(visibleDevices());
  }
  for (const li of ol.children) li.hidden = false; // measure every row afresh
  const box = ol.getBoundingClientRect();
  const rows = [...ol.children];
  const out = rows.map((li) => { const r = li.getBoundingClientRect(); return r.bottom > box.bottom + 0.5 || Math.abs(r.left - box.left) > 0.5 || r.right > box.right + 0.5; });
  let over = false, fits = 0;
  rows.forEach((li, i) => { over = over || out[i]; li.hidden = over; if (!over) fits++; });
  fitCount[ol.id] = ol.id.startsWith("fl-") && fits === rows.length ? Infinity : fits;
}

const MAX_EVENT_ROWS = 30; // more never fit, even in the events panel alone at 1080p
// Rows are made once per event and kept while shown: a burst of events moves rows rather
// than building the list again.
let eventRows = new Map();
function renderEvents() {
  const events = state.siteFilter ? state.events.filter(eventInSite) : state.events;
  $("ev-count").textContent = events.length ? String(events.length) : "";
  const rows = new Map();
  // Between full renders the count of rows that fit is known: drawing them needs no layout.
  const n = fitCount.events || MAX_EVENT_ROWS;
  $("events").replaceChildren(...events.slice(0, n).map((e) => {
    let li = eventRows.get(e.id);
    if (!li) li = eventRow(e);
    rows.set(e.id, li);
    return li;
  }));
  eventRows = rows;
  state.fresh.clear();
}

function eventRow(e) {
  {
    const sev = SEVERITY.includes(e.severity) ? e.severity : "info";
    const li = el("li", { class: sev + (state.fresh.has(e.id) ? " fresh" : ""), "data-id": e.id },
      el("time", { datetime: e.time }, since(e.time)),
      el("div", {}, el("span", { class: "dev" }, e.device || e.source || "–"), e.interface ? el("span", { class: "ifname" }, " " + e.interface) : null, el("span", { class: "sev" }, sev)),
      el("div", { class: "msg", title: e.message }, e.message || e.kind));
    return li;
  }
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
  // Drilled into a site: its alerts (those the snapshot left out cannot be told apart).
  const hidden = state.siteFilter ? 0 : state.alertsHidden;
  if (state.siteFilter) list = list.filter(alertInSite);
  const total = list.length + hidden;
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
  if (rest.length || hidden) {
    const by = {};
    for (const a of rest) by[a.severity] = (by[a.severity] || 0) + 1;
    const parts = ["critical", "high", "medium", "low", "info"].filter((s) => by[s]).map((s) => `${by[s]} ${s}`);
    rows.push(el("li", { class: "al more" }, el("b", {}, `+${rest.length + hidden} more`),
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

// ---- sites (central) -----------------------------------------------------------
// Central's wall has a tile per appliance, the worst first, and drills into one: a click on
// a tile (or ?site=NAME) shows only that site's devices, links, alerts and events, with a
// chip "Site: NAME ✕" that goes back to all of them. The URL keeps ?site, so a kiosk can be
// pinned to one site.
const SITE_RANK = { down: 0, late: 1, up: 2 };
const SITE_SHAPE = { up: "●", late: "▲", down: "✕" };
const SITE_WORD = { up: "UP", late: "LATE", down: "DOWN" };
// What the outbox of each site did between the reports that changed it: "draining" while it
// shrinks, "growing" while it grows (health records come every 30 s, reports every 5 s).
const outboxTrend = new Map();

function sitesChanged(m) {
  if (!m || !Array.isArray(m.sites)) { state.sites = null; return; }
  for (const s of m.sites) {
    const n = Number(s.outbox_entries) || 0, prev = outboxTrend.get(s.site);
    let trend = prev ? prev.trend : "";
    if (prev && prev.n !== n) trend = n < prev.n ? "draining" : "growing";
    outboxTrend.set(s.site, { n, trend: n > 0 ? trend : "" });
  }
  if (outboxTrend.size > 4 * m.sites.length + 64) { // sites that went away
    const now = new Set(m.sites.map((s) => s.site));
    for (const k of outboxTrend.keys()) if (!now.has(k)) outboxTrend.delete(k);
  }
  state.sites = m;
}

// visibleDevices are the devices of the site drilled into, or all of them.
function visibleDevices() {
  const all = [...state.devices.values()];
  return state.siteFilter ? all.filter((d) => d.site === state.siteFilter) : all;
}
const alertInSite = (a) => !state.siteFilter || (a.entity && a.entity.site) === state.siteFilter;
function eventInSite(e) {
  if (!state.siteFilter) return true;
  if (e.site) return e.site === state.siteFilter;
  const d = e.device && state.devices.get(e.device);
  return !!d && d.site === state.siteFilter;
}

function selectSite(name) {
  state.siteFilter = name || "";
  const url = new URL(location.href);
  if (name) url.searchParams.set("site", name); else url.searchParams.delete("site");
  history.pushState(null, "", url.pathname + url.search + url.hash);
  render();
}

// bytesText writes a size for people: "56 KB", "1.2 MB".
function bytesText(v) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  v = Math.max(0, Number(v) || 0);
  let i = 0;
  while (v >= 999.95 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 || v >= 99.95 ? v.toFixed(0) : v.toFixed(1)) + " " + units[i];
}

// critAlerts counts the open critical alerts of each site that are not muted.
function critAlerts() {
  const by = new Map();
  for (const a of state.alerts.values()) {
    const site = a.entity && a.entity.site;
    if (site && a.severity === "critical" && !muted(a)) by.set(site, (by.get(site) || 0) + 1);
  }
  return by;
}

let sitesSig = "";
function renderSites() {
  const m = state.sites;
  document.body.classList.toggle("has-sites", !!m);
  document.body.classList.toggle("site-drill", !!state.siteFilter);
  const chip = $("site-chip");
  chip.hidden = !state.siteFilter;
  $("site-chip-name").textContent = state.siteFilter;
  if (!m) return;
  const crit = critAlerts();
  const list = m.sites.slice().sort((a, b) => (SITE_RANK[a.state] ?? 0) - (SITE_RANK[b.state] ?? 0) ||
    (crit.get(b.site) || 0) - (crit.get(a.site) || 0) || b.open_alerts - a.open_alerts || a.site.localeCompare(b.site));
  const by = { up: 0, late: 0, down: 0 };
  for (const s of list) by[s.state] = (by[s.state] || 0) + 1;
  $("si-count").textContent = `${list.length} sites` + ["down", "late"].filter((k) => by[k]).map((k) => ` · ${by[k]} ${k}`).join("");
  $("si-count").classList.toggle("bad", by.down > 0);
  const total = Object.values(m.refused || {}).reduce((n, v) => n + v, 0);
  const last = (m.refusals || [])[0];
  const ref = $("si-refused");
  ref.classList.toggle("bad", total > 0);
  ref.replaceChildren(...(total > 0
    ? [el("b", {}, `${count(total)} refused connection${total === 1 ? "" : "s"}`),
      last ? ` — last: ${last.reason} ${last.who} ${ago(last.time)}` : ""]
    : ["no refused connections"]));
  ref.title = last ? `${last.reason} · ${last.who} · from ${last.remote} at ${since(last.time)}` : "";
  const rows = list.map((s) => siteTile(s, crit.get(s.site) || 0));
  if (m.sites_total > list.length) rows.push(el("li", { class: "si-more" }, `+${m.sites_total - list.length} more sites`));
  $("si-list").replaceChildren(...rows);
  // The tiles lose detail when they would not fit: measured only when the sites come or go.
  const sig = [list.length, document.body.dataset.panel, remSize, innerWidth, innerHeight].join();
  if (sig !== sitesSig) {
    sitesSig = sig;
    const box = $("si-list");
    for (let level = 0; level <= 2; level++) {
      $("sites").dataset.density = level;
      if (box.scrollHeight <= box.clientHeight + 1) break;
    }
  }
}

function ago(t) {
  const ms = Date.parse(t);
  if (!(ms > 0)) return "never";
  return duration(Math.max(0, serverNow() - ms) / 1000) + " ago";
}

function siteTile(s, crit) {
  const st = SITE_RANK[s.state] !== undefined ? s.state : "down";
  const trend = (outboxTrend.get(s.site) || {}).trend || "";
  const cell = (cls, v, label, title) => el("div", { class: "cell " + cls, title }, el("b", {}, v), el("small", {}, label));
  const outbox = s.outbox_entries > 0;
  const applied = (s.applied || []).map((a) => {
    const behind = a.version !== a.offered;
    const mark = !behind ? null : a.error ? el("span", { class: "mark refused" }, "refused: " + a.error) : el("span", { class: "mark old" }, "out of date");
    return el("span", { class: "ap" + (behind ? (a.error ? " refused" : " old") : ""), "data-kind": a.kind,
      title: `${a.kind}: v${a.version} in force` + (a.applied_at ? ` since ${since(a.applied_at)}` : "") + (behind ? `, central offers v${a.offered}` : "") + (a.error ? `: ${a.error}` : "") },
    el("b", {}, a.kind), ` v${a.version}`, behind ? ` / v${a.offered} ` : " ✓", mark);
  });
  const style = st === "down" ? `animation-delay:-${Date.now() % 1600}ms` : null;
  return el("li", { class: `site-tile ${st}` + (s.site === state.siteFilter ? " selected" : ""), "data-site": s.site, "data-state": st,
    role: "button", tabindex: "0", style, title: `${s.site}: ${SITE_WORD[st]} · click to show only this site` },
    el("div", { class: "head" }, el("span", { class: "shape", "aria-hidden": "true" }, SITE_SHAPE[st]),
      el("span", { class: "name" }, s.site), el("span", { class: "badge" }, SITE_WORD[st])),
    el("div", { class: "si-sub" }, el("span", { class: "contact" }, s.last_contact && Date.parse(s.last_contact) > 0 ? "heard " + ago(s.last_contact) : "never heard from"),
      el("span", { class: "ver", title: s.started_at ? "started " + since(s.started_at) : null }, s.version ? "v" + s.version.replace(/^v/, "") : "")),
    el("div", { class: "cells" },
      cell("outbox" + (outbox ? " warn" : "") + (trend ? " " + trend : ""), count(s.outbox_entries || 0),
        outbox ? (trend === "draining" ? "▼ draining" : trend === "growing" ? "▲ growing" : "outbox " + bytesText(s.outbox_bytes)) : "outbox",
        `${s.outbox_entries || 0} records (${bytesText(s.outbox_bytes)}) waiting at the site for the link to central`),
      cell("drops" + (s.dropped > 0 ? " alarm" : ""), count(s.dropped || 0), "dropped", "records lost at the site since it started"),
      cell("gaps" + (s.gaps > 0 ? " alarm" : ""), count(s.gaps || 0), "gaps", `records central found missing · ${count(s.received || 0)} received, ${count(s.duplicates || 0)} duplicates dropped`),
      cell("devs" + (s.devices_down > 0 ? " alarm" : ""), `${s.devices_down || 0}/${s.devices || 0}`, "down", `${s.devices_down || 0} of ${s.devices || 0} devices down`),
      cell("alerts" + (crit ? " crit" : s.open_alerts > 0 ? " warn" : ""), count(s.open_alerts || 0), crit ? `${crit} crit` : "alerts", `${s.open_alerts || 0} open alerts at the site` + (crit ? `, ${crit} critical` : ""))),
    applied.length ? el("div", { class: "applied" }, applied) : null);
}

// renderSiteHealth fills the health panel with the health of the site drilled into.
function renderSiteHealth() {
  const s = state.sites && state.sites.sites.find((x) => x.site === state.siteFilter);
  if (!s) {
    $("he-list").replaceChildren(el("li", { class: "he none" }, state.sites ? `Central has no health of site ${state.siteFilter}.` : "No sites on this console."));
    return;
  }
  const trend = (outboxTrend.get(s.site) || {}).trend || "";
  const line = (name, cls, word, cells) => el("li", { class: "he " + cls, "data-site-health": name },
    el("span", { class: "state" }, word), el("span", { class: "nm" }, name),
    ...cells.map(([c, v, label]) => el("span", { class: "cell " + c }, el("b", {}, v), el("small", {}, label))));
  $("he-list").replaceChildren(
    line("Link", { up: "ok", late: "errors", down: "dropping" }[s.state] || "idle", s.state,
      [["", ago(s.last_contact).replace(" ago", ""), "last contact"], ["", count(s.received || 0), "received"], [s.gaps > 0 ? "alarm" : "", count(s.gaps || 0), "gaps"]]),
    line("Outbox", s.outbox_entries > 0 ? "errors" : "ok", s.outbox_entries > 0 ? (trend || "queued") : "empty",
      [["", count(s.outbox_entries || 0), "records"], ["", bytesText(s.outbox_bytes), "size"], ["", count(s.duplicates || 0), "duplicates"]]),
    line("Drops", s.dropped > 0 ? "dropping" : "ok", s.dropped > 0 ? "lost" : "none",
      [[s.dropped > 0 ? "alarm" : "", count(s.dropped || 0), "since start"], ["", s.version || "–", "version"], ["", s.started_at ? duration((serverNow() - Date.parse(s.started_at)) / 1000) : "–", "up for"]]));
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

// ---- clock, staleness and layouts -------------------------------------------
function tick() {
  const now = new Date();
  $("clock").textContent = hms(now);
  $("date").textContent = now.toLocaleDateString(undefined, { weekday: "short", year: "numeric", month: "short", day: "numeric" }) +
    " · UTC " + `${two(now.getUTCHours())}:${two(now.getUTCMinutes())}`;
  showConn();
  if (now - lastFull > 5000) render(); // relative times, ages and stale tiles move on
}

// layout reads ?panel= (one panel full screen) and ?rotate= (each panel in turn, e.g. 30s).
function layout() {
  const q = new URL(location.href).searchParams;
  const panel = q.get("panel");
  const rotate = parseDuration(q.get("rotate"));
  if (rotate > 0) {
    let next = panel;
    const show = () => {
      const list = panels();
      const i = Math.max(0, list.indexOf(next));
      setPanel(list[i]);
      $("rot").hidden = false;
      $("rot").textContent = `${i + 1}/${list.length} ${list[i]}`;
      next = list[(i + 1) % list.length];
    };
    show();
    setInterval(show, rotate);
  } else if (PANELS.includes(panel)) {
    setPanel(panel);
  }
}

function setPanel(p) {
  document.body.dataset.panel = p;
  document.body.classList.add("panel-mode");
  document.documentElement.classList.add("panel-mode");
  render();
}

// parseDuration reads "30s", "2m", "1500ms" or a number of seconds; 0 when it cannot (or
// below 2 s: a wall that flips faster cannot be read).
function parseDuration(s) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(s || "");
  if (!m) return 0;
  const ms = parseFloat(m[1]) * ({ ms: 1, s: 1000, m: 60000 }[m[2] || "s"]);
  return ms >= 2000 ? ms : 0;
}

// panels are those this wall can show: the sites only on central.
function panels() { return PANELS.filter((p) => p !== "sites" || state.sites); }

addEventListener("resize", () => render());
addEventListener("popstate", () => { state.siteFilter = new URL(location.href).searchParams.get("site") || ""; render(); });
$("site-chip").addEventListener("click", () => selectSite(""));
$("si-list").addEventListener("click", (ev) => {
  const t = ev.target.closest(".site-tile");
  if (t) selectSite(t.dataset.site === state.siteFilter ? "" : t.dataset.site);
});
$("si-list").addEventListener("keydown", (ev) => {
  const t = ev.target.closest(".site-tile");
  if (t && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); t.click(); }
});
for (const id of FIT_LISTS) roomObserver.observe($(id));
layout();
tick();
setInterval(tick, 250);
takeToken();
connect();
