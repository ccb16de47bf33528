// The relayer's live dashboard: plain ES module, no build step, no third-party code.
// Data: GET ../api/stats, ../api/requests, ../api/requests/:id, ../api/workers; updates: ../api/events (SSE),
// with polling as the fallback when the stream drops.

const API = new URL("../api/", location.href);
const STATE_LABEL = { requested: "requested", submitted: "submitted", challenged: "challenged", fulfilled: "final", refunded: "refunded" };
const ACTION_COLORS = ["#388bfd", "#3fb950", "#d29922", "#a371f7", "#db6d28", "#f778ba", "#56d4dd"];
const $ = (sel, root = document) => root.querySelector(sel);

let selected = null;
let refreshing = false;
let again = false;
const actionColor = new Map();

async function api(path) {
  const res = await fetch(new URL(path, API), { cache: "no-store" });
  const body = await res.json();
  if (!res.ok) throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("data-") || k === "title" || k === "href" || k === "colspan") node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) node.append(c instanceof Node ? c : String(c));
  return node;
}

const svgNS = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

const short = (h, n = 6) => (h ? `${h.slice(0, n + 2)}…${h.slice(-4)}` : "–");
// The models `oracle dev` and the demo register (sdk/models.ts): names and class labels instead of hashes.
const MODELS = {
  "0x491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640": { name: "ppocr-cls", labels: ["upright (0°)", "upside down (180°)"] },
  "0xdd2a1c3c22475a939489e2d93937b6085fcae59446a234a5149b4141db243a41": { name: "mnist-mlp", labels: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"] },
};
const modelOf = (hash) => MODELS[String(hash).toLowerCase()];
const modelName = (hash) => modelOf(hash)?.name ?? short(hash, 4);
const TIERS = ["NONE", "OPTIMISTIC", "ZK"];
const ZERO32 = /^0x0{64}$/;
/** An event argument as a person reads it: amounts in ETH, tiers by name, zero roots as "none", long hex shortened. */
function argValue(key, v) {
  const s = String(v);
  if (ZERO32.test(s)) return "none";
  if (/^(fee|bond|amount|value|stake|reward|refund|slashed|paid|payout|burned)/i.test(key) && /^[0-9]+$/.test(s)) return eth(s);
  if (key === "tier" && /^[0-9]$/.test(s)) return TIERS[Number(s)] ?? s;
  if (key === "modelHash") return modelName(s);
  return s.length > 24 ? short(s) : s;
}
function ms(v) {
  if (v === null || v === undefined) return "–";
  if (v < 1000) return `${Math.round(v)} ms`;
  if (v < 120_000) return `${(v / 1000).toFixed(1)} s`;
  return `${(v / 60_000).toFixed(1)} min`;
}
function ago(t, now) {
  const s = Math.max(0, Math.round((now - t) / 1000));
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}
function eth(wei) {
  if (wei === null || wei === undefined) return "–";
  const v = BigInt(wei);
  const whole = v / 10n ** 18n;
  const frac = ((v % 10n ** 18n) * 10_000n) / 10n ** 18n;
  return `${whole}.${frac.toString().padStart(4, "0")} ETH`;
}
const compact = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n));
const badge = (state) => el("span", { class: `badge ${state}` }, STATE_LABEL[state] ?? state);

// ------------------------------------------------------------------ cards and header
function renderStats(s) {
  $("#chain").textContent = `chain ${s.chainId} · oracle ${short(s.oracle)} · relayer ${short(s.relayer)} · head ${s.head} · cursor ${s.cursor}`;
  const set = (name, value) => {
    const b = $(`.card[data-stat="${name}"] b`);
    b.textContent = value;
  };
  for (const state of Object.keys(STATE_LABEL)) set(state, s.requests[state] ?? 0);
  set("queue", s.queue.jobs);
  set("transactions", s.totals.transactions);
  set("gas", compact(Number(s.totals.gasUsed)));
  set("disputes", `${s.totals.disputesOpened} (${s.totals.workerWon}/${s.totals.challengerWon})`);
  renderLatency(s.latency);
  renderGas(s.gas);
}

// ------------------------------------------------------------------ charts (hand-written SVG)
const W = 600, H = 220, PAD = { l: 48, r: 10, t: 10, b: 24 };

function axes(root, maxY, fmt, xLabels) {
  const innerH = H - PAD.t - PAD.b;
  for (let i = 0; i <= 4; i++) {
    const y = PAD.t + innerH - (innerH * i) / 4;
    root.append(svg("line", { class: i === 0 ? "axis" : "grid", x1: PAD.l, x2: W - PAD.r, y1: y, y2: y }));
    root.append(svg("text", { x: PAD.l - 4, y: y + 3, "text-anchor": "end" }, fmt((maxY * i) / 4)));
  }
  for (const [x, label] of xLabels) root.append(svg("text", { x, y: H - 6, "text-anchor": "middle" }, label));
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function renderLatency(points) {
  const root = $("#latency-chart");
  root.replaceChildren();
  const pts = points.filter((p) => p.submitMs !== null || p.finalMs !== null);
  if (pts.length === 0) {
    root.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no results yet"));
    return;
  }
  // Log scale: results land in ms to seconds, finality after the challenge window (minutes).
  const values = pts.flatMap((p) => [p.submitMs, p.finalMs]).filter((v) => v !== null).map((v) => Math.max(v, 1));
  const lo = Math.log10(Math.min(...values, 10));
  const hi = Math.log10(niceMax(Math.max(...values)));
  const innerW = W - PAD.l - PAD.r, innerH = H - PAD.t - PAD.b;
  const x = (i) => PAD.l + (pts.length === 1 ? innerW / 2 : (innerW * i) / (pts.length - 1));
  const y = (v) => PAD.t + innerH - (innerH * (Math.log10(Math.max(v, 1)) - lo)) / Math.max(hi - lo, 0.1);
  const innerTicks = 4;
  for (let i = 0; i <= innerTicks; i++) {
    const v = 10 ** (lo + ((hi - lo) * i) / innerTicks);
    const yy = y(v);
    root.append(svg("line", { class: i === 0 ? "axis" : "grid", x1: PAD.l, x2: W - PAD.r, y1: yy, y2: yy }));
    root.append(svg("text", { x: PAD.l - 4, y: yy + 3, "text-anchor": "end" }, ms(v)));
  }
  root.append(svg("text", { x: PAD.l, y: H - 6 }, `oldest of ${pts.length}`));
  root.append(svg("text", { x: W - PAD.r, y: H - 6, "text-anchor": "end" }, "newest"));
  for (const [key, cls] of [["submitMs", "submit"], ["finalMs", "final"]]) {
    const series = pts.map((p, i) => [i, p[key]]).filter(([, v]) => v !== null);
    if (series.length > 1) root.append(svg("polyline", { class: `line-${cls}`, points: series.map(([i, v]) => `${x(i)},${y(v)}`).join(" ") }));
    for (const [i, v] of series) {
      const c = svg("circle", { class: cls, cx: x(i), cy: y(v), r: 3.2, "data-request-id": pts[i].id });
      c.append(svg("title", {}, `${short(pts[i].id)} ${cls === "submit" ? "to result" : "to final"}: ${ms(v)}`));
      root.append(c);
    }
  }
}

function renderGas(txs) {
  const root = $("#gas-chart");
  root.replaceChildren();
  const legend = $("#gas-legend");
  if (txs.length === 0) {
    root.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no transactions yet"));
    return;
  }
  for (const t of txs) if (!actionColor.has(t.action)) actionColor.set(t.action, ACTION_COLORS[actionColor.size % ACTION_COLORS.length]);
  legend.replaceChildren(
    ...[...actionColor.entries()].flatMap(([action, color]) => [el("i", { style: `background:${color}` }), action + " "]),
  );
  const maxY = niceMax(Math.max(...txs.map((t) => t.gasUsed)));
  const t0 = txs[0].at, t1 = txs[txs.length - 1].at;
  axes(root, maxY, compact, [
    [PAD.l + 20, new Date(t0).toLocaleTimeString()],
    [W - PAD.r - 30, new Date(t1).toLocaleTimeString()],
  ]);
  const innerW = W - PAD.l - PAD.r, innerH = H - PAD.t - PAD.b;
  const slot = innerW / txs.length;
  const bw = Math.max(1, Math.min(24, slot * 0.8));
  txs.forEach((t, i) => {
    const h = (innerH * t.gasUsed) / maxY;
    const r = svg("rect", {
      class: "bar",
      x: PAD.l + slot * i + (slot - bw) / 2,
      y: PAD.t + innerH - h,
      width: bw,
      height: Math.max(h, 1),
      fill: actionColor.get(t.action),
      "data-action": t.action,
    });
    r.append(svg("title", {}, `${t.action} · ${t.items} item(s) · ${t.gasUsed.toLocaleString()} gas · ${short(t.hash)}`));
    root.append(r);
  });
}

// ------------------------------------------------------------------ requests
function renderRequests({ requests, now }) {
  const body = $("#requests tbody");
  body.replaceChildren(
    ...requests.map((r) =>
      el(
        "tr",
        { "data-request-id": r.id, class: r.id === selected ? "selected" : "", onclick: () => (location.hash = `#/requests/${r.id}`) },
        el("td", { class: "mono", title: r.id }, short(r.id)),
        el("td", { class: "state", "data-state": r.state }, badge(r.state), r.refundReason ? el("span", { class: "muted" }, ` ${r.refundReason}`) : null),
        el("td", {}, r.tier),
        el("td", { class: modelOf(r.modelHash) ? "" : "mono", title: r.modelHash }, modelName(r.modelHash)),
        el("td", { title: new Date(r.observedAt).toISOString() }, ago(r.observedAt, now)),
        el("td", { class: "submit-latency" }, ms(r.submitMs)),
        el("td", { class: "final-latency" }, ms(r.finalMs)),
        el("td", { class: "mono", title: r.worker ?? "" }, r.worker ? short(r.worker, 4) : "–"),
      ),
    ),
  );
  $("#requests-empty").hidden = requests.length > 0;
}

// ------------------------------------------------------------------ request detail
function previewBox(title, p, labels) {
  // A model with several inputs or outputs: one box per named tensor ("Output · stateN").
  if (p.available && Array.isArray(p.bundle)) return p.bundle.map((e) => previewBox(`${title} · ${e.name}`, { available: true, ...e }, labels));
  const box = el("div", { class: "preview", "data-testid": `${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}-preview` }, el("b", {}, title));
  if (!p.available) {
    box.append(el("p", { class: "muted" }, p.reason));
    return box;
  }
  if (p.image) {
    const canvas = el("canvas", { width: p.image.width, height: p.image.height });
    const ctx = canvas.getContext("2d");
    const gray = Uint8Array.from(atob(p.image.gray), (c) => c.charCodeAt(0));
    const img = ctx.createImageData(p.image.width, p.image.height);
    for (let i = 0; i < gray.length; i++) img.data.set([gray[i], gray[i], gray[i], 255], i * 4);
    ctx.putImageData(img, 0, 0);
    box.append(canvas);
  }
  const fmt = (v) => (v === null ? "–" : Math.abs(v) >= 1000 || (Math.abs(v) < 0.001 && v !== 0) ? v.toExponential(3) : v.toFixed(4));
  box.append(
    el(
      "dl",
      {},
      el("dt", {}, "tensor"), el("dd", { class: "mono" }, `${p.dtype} [${p.shape.join(", ")}] · ${p.bytes} bytes`),
      el("dt", {}, "min / mean / max"), el("dd", { class: "mono" }, `${fmt(p.min)} / ${fmt(p.mean)} / ${fmt(p.max)}`),
      el("dt", {}, "values"), el("dd", { class: "mono values" }, p.values.slice(0, 6).map(fmt).join(", ") + (p.elements > 6 ? ", …" : "")),
      p.argmax !== null
        ? labels?.[p.argmax] !== undefined
          ? [el("dt", {}, "answer"), el("dd", {}, el("span", { class: "label" }, labels[p.argmax]), el("span", { class: "muted" }, ` (class ${p.argmax})`))]
          : [el("dt", {}, "largest at"), el("dd", { class: "mono" }, `index ${p.argmax}`)]
        : null,
    ),
  );
  return box;
}

const EVENT_CLASS = {
  InferenceRequested: "onchain", ResultSubmitted: "onchain", ResultSkipped: "onchain", RequestRejected: "refund",
  ChallengeOpened: "dispute", DisputeResolved: "dispute", RequestReopened: "dispute",
  RequestFulfilled: "final", RequestRefunded: "refund",
};

function renderDetail(d) {
  const r = d.request;
  $("#detail-id").textContent = short(r.id, 10);
  $("#detail-id").title = r.id;
  const kv = (pairs) => el("dl", {}, pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { class: "mono" }, v ?? "–")]));
  const reply = d.reply;
  const timings = reply?.timings ?? null;
  const stages = timings ? Object.entries(timings).filter(([k, v]) => k !== "total" && k !== "batch" && v > 0) : [];
  const total = stages.reduce((a, [, v]) => a + v, 0) || 1;
  const stageColors = ["#388bfd", "#3fb950", "#d29922", "#a371f7", "#db6d28", "#f778ba", "#56d4dd", "#8b949e", "#e3b341"];

  const onchain = d.timeline.map((e) => ({ t: e.time * 1000, kind: EVENT_CLASS[e.event] ?? "onchain", title: e.event, e }));
  const model = modelOf(r.modelHash);
  const offchain = [
    ["seen by the relayer", d.offchain.observedAt],
    ["job published", d.offchain.jobPublishedAt],
    ["worker reply checked", d.offchain.replyAt],
    ["result sent", d.offchain.submittedAt],
  ].filter(([, t]) => t !== null).map(([title, t]) => ({ t, kind: "offchain", title }));
  const timeline = (clock, entries, when) =>
    el(
      "ol",
      { class: "timeline", "data-testid": "timeline", "data-clock": clock },
      entries.map((i) =>
        el(
          "li",
          { class: i.kind, "data-event": i.e ? i.e.event : i.title },
          el("b", {}, i.title),
          " ",
          el("span", { class: "muted" }, when(i)),
          i.e && Object.keys(i.e.args).length ? el("div", { class: "args mono" }, Object.entries(i.e.args).map(([k, v]) => `${k} ${argValue(k, v)}`).join(" · ")) : null,
        ),
      ),
    );

  const parts = [
    kv([
      ["state", null],
      ["tier", r.tier],
      ["model", model ? `${model.name} · ${r.modelHash}` : r.modelHash],
      ["requester", r.requester],
      ["fee", d.feeToken ? `${d.feeToken.amount} of token ${d.feeToken.token} (owner fee ${d.feeToken.ownerFee}; callback gas ${eth(r.fee)})` : eth(r.fee)],
      ["to result / to final", `${ms(r.submitMs)} / ${ms(r.finalMs)}`],
      ["worker", r.worker],
      ["input URI", d.inputURI || "(inline)"],
      ["note", d.note],
    ]),
    el("h3", {}, "Input and output"),
    el("div", { class: "previews" }, previewBox("Input", d.input), previewBox("Output", d.output, model?.labels)),
    reply
      ? [
          el("h3", {}, "Worker reply"),
          kv([
            ["kind / state", `${reply.kind} / ${reply.state}${reply.reason ? ` (${reply.reason})` : ""}`],
            ["signer", reply.signer],
            ["execution provider", reply.provider],
            reply.code ? ["rejection", `${reply.code}: ${reply.message ?? ""}`] : null,
            timings ? ["worker time", `${ms(timings.total)} (batch of ${timings.batch ?? 1})`] : null,
          ].filter(Boolean)),
          stages.length
            ? [
                el("div", { class: "bars", "data-testid": "stage-bars" }, stages.map(([k, v], i) => el("span", { title: `${k}: ${v} ms`, style: `width:${(100 * v) / total}%;background:${stageColors[i % stageColors.length]}` }))),
                el("div", { class: "stage-legend", "data-testid": "stage-legend" }, stages.map(([k, v], i) => el("span", {}, el("i", { style: `background:${stageColors[i % stageColors.length]}` }), `${k} ${ms(v)}`))),
              ]
            : null,
        ]
      : null,
    el("h3", {}, "Commitments"),
    kv([
      ["input hash", d.commitments.inputHash],
      ["output hash", d.commitments.outputHash],
      ["output bytes", d.outputURI ? `${d.outputURI}${d.output && d.output.available && d.output.bytes > d.chain.maxInlineOutput ? " (delivered as hash only: above the request's inline threshold)" : ""}` : null],
      ["inline threshold", d.chain.maxInlineOutput === undefined ? null : `${d.chain.maxInlineOutput} bytes (longer outputs reach the callback as their hash)`],
      ["signed leaf", d.commitments.signedLeaf === null ? "– (no result yet)" : `${d.commitments.signedLeaf} (in the worker's signed ResultBatch; no trace is signed)`],
      ["result leaf", d.commitments.resultLeaf === null ? "– (no result yet)" : `${d.commitments.resultLeaf} (attempt ${d.commitments.attempt})`],
      ["deadline (chain time)", new Date(d.chain.deadline * 1000).toISOString()],
      ["challenge deadline (chain time)", d.chain.challengeDeadline ? new Date(d.chain.challengeDeadline * 1000).toISOString() : null],
      ["callback", d.chain.callbackOk === null ? null : d.chain.callbackOk ? "succeeded" : "failed (settlement went on)"],
    ]),
    d.dispute
      ? [el("h3", {}, "Dispute"), kv([["opened by", d.dispute.opener], ["joiners", String(d.dispute.joiners)], ["worker", d.dispute.worker], ["resolver", d.dispute.resolver], ["bond", eth(d.dispute.bond)], ["deadline", new Date(d.dispute.deadline * 1000).toISOString()]])]
      : null,
    el("h3", {}, "Transactions"),
    el(
      "div",
      { class: "hscroll" },
      el(
        "table",
        { "data-testid": "transactions" },
        el("thead", {}, el("tr", {}, el("th", {}, "hash"), el("th", {}, "from"), el("th", {}, "gas"), el("th", {}, "events"))),
        el("tbody", {}, d.transactions.map((t) => el("tr", {}, el("td", { class: "mono", title: t.hash }, short(t.hash)), el("td", { class: "mono", title: t.from }, short(t.from, 4)), el("td", {}, Number(t.gasUsed).toLocaleString()), el("td", {}, t.events.join(", "))))),
      ),
    ),
    el("h3", {}, "Timeline"),
    el("div", { class: "timeline-head" }, "On chain (block · chain time, which can run ahead of the wall clock)"),
    timeline("chain", onchain, (i) => `block ${i.e.block} · ${new Date(i.t).toISOString().slice(11, 19)}`),
    offchain.length ? [el("div", { class: "timeline-head" }, "Relayer (wall clock)"), timeline("wall", offchain, (i) => new Date(i.t).toISOString().slice(11, 23))] : null,
  ];
  $("#detail-body").replaceChildren(...parts.flat(2).filter((p) => p !== null && p !== undefined));
  const stateDd = $("#detail-body dd");
  stateDd.replaceChildren(badge(r.state));
  stateDd.setAttribute("data-testid", "detail-state");
  stateDd.setAttribute("data-state", r.state);
  $("#detail").hidden = false;
}

// ------------------------------------------------------------------ workers
function renderWorkers({ workers }) {
  $("#workers tbody").replaceChildren(
    ...workers.map((w) =>
      el(
        "tr",
        { "data-operator": w.operator },
        el("td", { class: "mono", title: w.operator }, short(w.operator, 4)),
        el("td", { class: "mono", title: w.signer }, short(w.signer, 4)),
        el("td", { class: "stake" }, eth(w.stake)),
        el("td", { class: "bond" }, eth(w.bondInUse)),
        el("td", {}, String(w.openResults)),
        el("td", { class: "served", title: JSON.stringify(w.servedByState) }, String(w.served)),
        el("td", {}, w.slashes ? `${w.slashes} × (${eth(w.slashed)})` : "–"),
      ),
    ),
  );
}

// ------------------------------------------------------------------ chained requests
function renderChains({ contracts }) {
  const rows = contracts.flatMap((c) => c.chains.map((ch) => ({ ...ch, address: c.address })));
  $("#chains-panel").hidden = rows.length === 0;
  $("#chains tbody").replaceChildren(
    ...rows.map((ch) =>
      el(
        "tr",
        { "data-chain": `${ch.address}/${ch.chainId}` },
        el("td", { class: "mono", title: ch.address }, `#${ch.chainId} (${short(ch.address, 4)})`),
        el("td", {}, ch.status),
        el("td", {}, `${ch.step} / ${ch.steps}`),
        el("td", {}, ...ch.requestIds.map((id) => el("a", { class: "mono", href: `#/requests/${id}`, title: id }, short(id, 4), " "))),
        el("td", { class: "mono", title: ch.outputHash }, /^0x0+$/.test(ch.outputHash) ? "–" : short(ch.outputHash, 4)),
        el("td", {}, ch.escrow === "0" ? "–" : eth(ch.escrow)),
        // Each step's request as this relayer knows it (requested, submitted, final, refunded).
        el("td", { class: "step-states" }, (ch.stepStates ?? []).map((s) => `${s.step}: ${s.request ? (s.request.state === "fulfilled" ? "final" : s.request.state) : "–"}`).join(" · ")),
      ),
    ),
  );
}

// ------------------------------------------------------------------ refresh loop
function route() {
  const m = /^#\/requests\/(0x[0-9a-fA-F]{64})$/.exec(location.hash);
  selected = m ? m[1].toLowerCase() : null;
  if (!selected) $("#detail").hidden = true;
  for (const tr of document.querySelectorAll("#requests tbody tr")) tr.classList.toggle("selected", tr.dataset.requestId === selected);
  return refresh();
}

async function refresh() {
  if (refreshing) {
    again = true;
    return;
  }
  refreshing = true;
  try {
    const state = $("#state-filter").value;
    const [stats, requests, workers, detail, chains] = await Promise.all([
      api("stats"),
      api(`requests?limit=200${state ? `&state=${state}` : ""}`),
      api("workers"),
      selected ? api(`requests/${selected}`).catch(() => null) : null,
      api("chains").catch(() => ({ contracts: [] })),
    ]);
    renderStats(stats);
    renderRequests(requests);
    renderWorkers(workers);
    renderChains(chains);
    if (detail) renderDetail(detail);
    document.body.dataset.loaded = String(Date.now());
  } catch (error) {
    $("#chain").textContent = `cannot reach the relayer API: ${error.message}`;
  } finally {
    refreshing = false;
    if (again) {
      again = false;
      void refresh();
    }
  }
}

function connect() {
  const live = $("#live");
  let poll;
  const source = new EventSource(new URL("events", API));
  source.addEventListener("change", () => void refresh());
  source.onopen = () => {
    live.classList.add("on");
    live.querySelector("span").textContent = "live";
    clearInterval(poll);
  };
  source.onerror = () => {
    live.classList.remove("on");
    live.querySelector("span").textContent = "reconnecting (polling)";
    clearInterval(poll);
    poll = setInterval(() => void refresh(), 3000);
  };
}

$("#state-filter").addEventListener("change", () => void refresh());
$("#detail-close").addEventListener("click", () => (location.hash = ""));
window.addEventListener("hashchange", () => void route());
// Relative times and chain reads (stake, bond) move without database changes: refresh now and then too.
setInterval(() => void refresh(), 15_000);
connect();
void route();
