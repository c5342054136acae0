// The live inbox, loaded by the inbox page only (CSP: script-src 'self', connect-src 'self').
// Without it the page is the same page, brought up to date by reloading. With it, /inbox/events
// says when this agency has new packets (never which); the script then fetches this same address
// (filters, paging and all) as a fragment, puts the parts that changed in place, keeps focus and
// scroll where they were, and tells screen readers how many packets arrived. It waits while the
// reader is selecting text or holding the pointer down, and while the tab is hidden.

const REGIONS = ["packet-tabs", "unread-count", "listing-results"];
const results = document.getElementById("listing-results");
const status = document.getElementById("live-status");
const eventsUrl = results ? results.dataset.liveEvents : undefined;

let source = null;
let ended = false;
let retryDelay = 5000;
let fetching = false;
let wanted = false;
let pointerDown = false;

function rowIds(root) {
  return new Set(Array.from(root.querySelectorAll("tr[id^='row-']"), (row) => row.id));
}

function busy() {
  if (document.visibilityState === "hidden" || pointerDown) return true;
  const selection = document.getSelection();
  if (!selection || selection.isCollapsed || selection.rangeCount === 0) return false;
  // Selecting text in the parts about to be replaced: wait until it is done.
  const range = selection.getRangeAt(0);
  return REGIONS.some((id) => {
    const region = document.getElementById(id);
    return region !== null && range.intersectsNode(region);
  });
}

// Where the focused element is, in terms that survive its being replaced by a copy.
function focusLocator() {
  const active = document.activeElement;
  if (!active || active === document.body) return null;
  const regions = REGIONS.map((id) => document.getElementById(id));
  const region = regions.find((r) => r && r.contains(active));
  if (!region) return null;
  if (active.id) return { region: region.id, selector: `#${CSS.escape(active.id)}` };
  const href = active.getAttribute("href");
  if (href !== null) return { region: region.id, selector: `[href="${CSS.escape(href)}"]` };
  if (active.classList.contains("hub-table-scroll")) {
    return { region: region.id, selector: ".hub-table-scroll" };
  }
  return { region: region.id, selector: null };
}

// The first listed row in view (or the listing itself), and where it is on the screen now.
function scrollAnchor() {
  if (window.scrollY === 0) return null; // at the top, new rows come into view as they should
  const visible = Array.from(results.querySelectorAll("tr[id^='row-']")).find(
    (row) => row.getBoundingClientRect().bottom > 0,
  );
  const element = visible || results;
  return { id: element.id, top: element.getBoundingClientRect().top };
}

function announce(count) {
  if (!status || count < 1) return;
  const text = count === 1 ? "1 new packet" : `${count} new packets`;
  // Emptied first, so that the same words said twice are announced twice.
  status.textContent = "";
  window.setTimeout(() => {
    status.textContent = text;
  }, 100);
}

function swap(fragment) {
  const before = rowIds(results);
  const focus = focusLocator();
  const anchor = scrollAnchor();
  const scroller = results.querySelector(".hub-table-scroll");
  const scrollLeft = scroller ? scroller.scrollLeft : 0;
  for (const id of REGIONS) {
    const now = document.getElementById(id);
    const next = fragment.getElementById(id);
    if (!now || !next || now.innerHTML === next.innerHTML) continue;
    // The listing keeps its own element (and data-live-events); the others are replaced whole.
    if (now === results) now.replaceChildren(...next.childNodes);
    else now.replaceWith(next);
  }
  const rows = Array.from(results.querySelectorAll("tr[id^='row-']"));
  const fresh = rows.filter((row) => !before.has(row.id));
  for (const row of fresh) row.classList.add("hub-row--new");
  const newScroller = results.querySelector(".hub-table-scroll");
  if (newScroller) newScroller.scrollLeft = scrollLeft;
  if (anchor) {
    const same = document.getElementById(anchor.id);
    if (same) window.scrollBy(0, same.getBoundingClientRect().top - anchor.top);
  }
  if (focus && document.activeElement === document.body) {
    const region = document.getElementById(focus.region);
    const target = focus.selector && region ? region.querySelector(focus.selector) : null;
    (target || region)?.focus({ preventScroll: true });
  }
  announce(fresh.length);
}

// This page's listing, fetched again: "signed-out" (the redirect to sign in), "down" (a restart,
// a network blip) or the parsed fragment.
async function fetchListing() {
  try {
    const response = await fetch(window.location.href, {
      headers: { "X-Hub-Fragment": "listing" },
      credentials: "same-origin",
      cache: "no-store",
      redirect: "manual",
    });
    if (response.type === "opaqueredirect") return "signed-out";
    const type = response.headers.get("Content-Type") || "";
    if (!response.ok || !type.startsWith("text/html")) return "down";
    return new DOMParser().parseFromString(await response.text(), "text/html");
  } catch {
    return "down";
  }
}

async function update() {
  wanted = true;
  if (fetching || busy()) return; // tried again when the reader is done (see below)
  fetching = true;
  wanted = false;
  const got = await fetchListing();
  fetching = false;
  if (got === "signed-out") finish();
  else if (got !== "down") swap(got);
  // "down": the stream's reconnection fetches again.
  if (wanted && source) update();
}

function close() {
  if (source) source.close();
  source = null;
}

// For good: signed out, or this session has newer tabs listening. A reload starts again.
function finish() {
  ended = true;
  close();
}

function start() {
  let opened = false;
  source = new EventSource(eventsUrl);
  source.addEventListener("inbox", update);
  source.addEventListener("refresh", update);
  source.addEventListener("open", () => {
    // A reconnection after the stream dropped: anything sent meanwhile was missed.
    if (opened) update();
    opened = true;
    retryDelay = 5000;
  });
  source.addEventListener("signed-out", finish);
  source.addEventListener("superseded", finish); // too many tabs listening: the newest ones do
  source.addEventListener("error", () => {
    // EventSource retries a dropped stream by itself, but gives up on an answer that is not a
    // stream (the server restarting answered 502 or 500): try again later, while signed in.
    if (!source || source.readyState !== EventSource.CLOSED) return;
    close();
    retryLater();
  });
}

function retryLater() {
  window.setTimeout(async () => {
    if (ended || source) return;
    const got = await fetchListing();
    if (got === "signed-out") finish();
    else if (got === "down") retryLater();
    else {
      start();
      update();
    }
  }, retryDelay);
  retryDelay = Math.min(retryDelay * 2, 60000);
}

function retryIfWanted() {
  if (wanted && source) update();
}

if (results && eventsUrl && "EventSource" in window) {
  start();
  document.addEventListener("pointerdown", () => {
    pointerDown = true;
  });
  document.addEventListener("pointerup", () => {
    pointerDown = false;
    retryIfWanted();
  });
  document.addEventListener("pointercancel", () => {
    pointerDown = false;
    retryIfWanted();
  });
  document.addEventListener("selectionchange", retryIfWanted);
  document.addEventListener("visibilitychange", retryIfWanted);
  window.addEventListener("pagehide", close);
  window.addEventListener("pageshow", (event) => {
    if (event.persisted && !source && !ended) {
      start();
      update();
    }
  });
}
