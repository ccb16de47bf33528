// The dashboard's subscriptions panel (docs/FEATURES.md, "Subscriptions"): GET ../api/subscriptions
// every 5 s. Plain ES module, no build step; hidden when the relayer keeps no subscriptions contract.

const API = new URL("../api/", location.href);
const $ = (sel) => document.querySelector(sel);

function cell(text, attrs = {}) {
  const td = document.createElement("td");
  td.textContent = text;
  for (const [k, v] of Object.entries(attrs)) td.setAttribute(k, v);
  return td;
}

function eth(wei) {
  const v = BigInt(wei);
  const whole = v / 10n ** 18n;
  const frac = ((v % 10n ** 18n) * 10_000n) / 10n ** 18n;
  return `${whole}.${frac.toString().padStart(4, "0")} ETH`;
}

const short = (a) => `${a.slice(0, 6)}…${a.slice(-4)}`;

async function refresh() {
  let body;
  try {
    const res = await fetch(new URL("subscriptions", API), { cache: "no-store" });
    body = await res.json();
    if (!res.ok) throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
  } catch {
    return; // the main panel reports an unreachable relayer
  }
  const panel = $("#subscriptions-panel");
  panel.hidden = !body.enabled;
  if (!body.enabled) return;
  $("#subscriptions-keeper").textContent = `${body.total} subscription${body.total === 1 ? "" : "s"} at ${short(body.address)} · keeper ${
    body.keeper.on ? `on: ${body.keeper.triggered} rounds triggered, ${eth(body.keeper.rewardsOwed)} rewards owed` : "off"
  }`;
  $("#subscriptions tbody").replaceChildren(
    ...body.subscriptions.map((s) => {
      const tr = document.createElement("tr");
      tr.dataset.subId = s.subId;
      tr.append(
        cell(`#${s.subId}`),
        cell(s.state + (s.due ? " · due" : ""), { class: `sub-${s.state}` }),
        cell(`${s.fulfilled}/${s.maxDeliveries}`, { title: `${s.triggered} triggered, ${s.pending} in flight, ${s.refunded} refunded, ${s.skipped} skipped` }),
        cell(`${s.interval} ${s.intervalIsBlocks ? "blocks" : "s"}`),
        s.token === undefined ? cell(eth(s.perDeliveryFee)) : cell(`${s.perDeliveryFee} units`, { title: `paid in token ${s.token}; ${eth(s.callbackFee)} per round for the callback` }),
        s.token === undefined ? cell(eth(s.balance)) : cell(`${eth(s.balance)} + ${s.tokenBalance} units`, { title: `token ${s.token}` }),
        cell(short(s.owner), { class: "mono", title: s.owner }),
        cell(s.consumer === "0x0000000000000000000000000000000000000000" ? "kept on-chain" : short(s.consumer), { class: "mono", title: s.consumer }),
      );
      return tr;
    }),
  );
}

setInterval(() => void refresh(), 5_000);
void refresh();
