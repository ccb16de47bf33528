// The dashboard's feature panels (docs/FEATURES.md): redundancy jobs (../api/redundancy), fee tokens
// (../api/tokens) and large outputs (../api/large-outputs), every 5 s. Plain ES module, no build step; each
// panel is hidden until the relayer has something to show in it. Chained requests are drawn by app.js.

const API = new URL("../api/", location.href);
const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

const short = (a, n = 6) => (typeof a === "string" && a.length > 2 * n + 2 ? `${a.slice(0, n + 2)}…${a.slice(-4)}` : String(a));
const isZero = (h) => /^0x0*$/.test(h);
const requestLink = (id) => el("a", { class: "mono", href: `#/requests/${id}`, title: id }, short(id, 4));
const state = (s) => el("span", { class: `badge ${s}` }, s === "fulfilled" ? "final" : s);

/** A token amount in whole units when the token says its decimals, else raw. */
function units(amount, decimals, symbol) {
  const v = BigInt(amount);
  if (decimals === null || decimals === undefined) return `${v} ${symbol ?? "units"}`;
  const scale = 10n ** BigInt(decimals);
  const frac = ((v % scale) * 10_000n) / scale;
  return `${v / scale}.${frac.toString().padStart(4, "0")} ${symbol ?? ""}`.trim();
}

function kib(bytes) {
  return bytes >= 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${bytes} B`;
}

async function get(path) {
  const res = await fetch(new URL(path, API), { cache: "no-store" });
  const body = await res.json();
  if (!res.ok) throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
  return body;
}

function renderRedundancy({ contracts }) {
  const jobs = contracts.flatMap((c) => c.jobs.map((j) => ({ ...j, address: c.address })));
  $("#redundancy-panel").hidden = jobs.length === 0;
  $("#redundancy-summary").textContent = contracts.map((c) => `${c.total} job${c.total === 1 ? "" : "s"} at ${short(c.address, 4)}`).join(" · ");
  $("#redundancy tbody").replaceChildren(
    ...jobs.map((j) =>
      el(
        "tr",
        { "data-job": `${j.address.toLowerCase()}/${j.jobId}` },
        el("td", { class: "mono", title: j.address }, `#${j.jobId}`),
        el("td", { class: "job-status" }, j.status + (j.delivered ? " · delivered" : "")),
        el("td", {}, `${j.counted} / ${j.k}`),
        el(
          "td",
          { class: "answers" },
          ...j.answers.map((a) =>
            el(
              "div",
              { class: "answer", "data-answer": a.status, title: `worker ${a.worker}\noutput ${a.outputHash}` },
              requestLink(a.requestId),
              " ",
              a.status,
              a.request ? " (" : "",
              a.request ? state(a.request.state) : "",
              a.request ? ")" : "",
              isZero(a.worker) ? "" : ` by ${short(a.worker, 4)}`,
            ),
          ),
        ),
        el("td", { class: "mono", title: j.outputHash }, isZero(j.outputHash) ? "–" : short(j.outputHash, 4)),
        el("td", {}, j.reserveLeft === 0 ? "–" : String(j.reserveLeft)),
      ),
    ),
  );
}

function renderTokens({ tokens }) {
  $("#tokens-panel").hidden = tokens.length === 0;
  $("#tokens tbody").replaceChildren(
    ...tokens.map((t) =>
      el(
        "tr",
        { "data-token": t.token },
        el("td", { class: "mono", title: t.token }, `${t.symbol ?? "?"} ${short(t.token, 4)}`),
        el("td", { class: "token-requests", title: JSON.stringify(t.byState) }, String(t.requests)),
        el("td", { class: "token-escrowed" }, units(t.escrowed, t.decimals, t.symbol)),
        el("td", { class: "token-paid" }, units(t.paid, t.decimals, t.symbol)),
        el("td", { class: "token-refunded" }, units(t.refunded, t.decimals, t.symbol)),
        el("td", {}, units(t.ownerFees, t.decimals, t.symbol)),
      ),
    ),
  );
}

function renderLargeOutputs({ delivered, outputs }) {
  $("#large-outputs-panel").hidden = outputs.length === 0;
  $("#large-outputs-summary").textContent = `${delivered.hashOnly} delivered as hash + URI, ${delivered.inline} inline`;
  $("#large-outputs tbody").replaceChildren(
    ...outputs.map((o) =>
      el(
        "tr",
        { "data-request-id": o.requestId },
        el("td", {}, requestLink(o.requestId)),
        el("td", { class: "mono", title: o.outputHash }, short(o.outputHash, 4)),
        el("td", {}, el("a", { class: "mono", href: o.uri, title: o.uri }, "blob")),
        el("td", {}, o.tensor ? `${o.tensor.dtype}[${o.tensor.shape.join("×")}]` : "–"),
        el("td", {}, o.size === null ? "–" : kib(o.size)),
        el("td", { class: "verified", "data-verified": String(o.verified) }, o.verified === null ? "not here" : o.verified ? "hash ✓" : "MISMATCH"),
      ),
    ),
  );
}

async function refresh() {
  const [redundancy, tokens, large] = await Promise.all([
    get("redundancy").catch(() => null),
    get("tokens").catch(() => null),
    get("large-outputs").catch(() => null),
  ]);
  // An unreachable relayer is reported by app.js; a panel keeps its last rows.
  if (redundancy) renderRedundancy(redundancy);
  if (tokens) renderTokens(tokens);
  if (large) renderLargeOutputs(large);
  document.body.dataset.featuresLoaded = String(Date.now());
}

setInterval(() => void refresh(), 5_000);
void refresh();
