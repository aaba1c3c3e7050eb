// bioshare Browser: the view of bioshare.widgets.browser.Browser (plain ESM, no imports).
//
// All state lives in the Python model; this file only draws it and sends requests:
//   {type: "search"}                                   search with the current traits
//   {type: "details", repository, id}                  fill the detail pane
//   {type: "open", repository, id, image}              select an image (and open a viewer)
// Thumbnails load from the repositories' own URLs; nothing else leaves the page.

const FACETS = [
  ["repository", "Repository"],
  ["organism", "Organism"],
  ["imaging_method", "Imaging method"],
  ["license", "Licence"],
  ["has_ome_zarr", "OME-Zarr"],
];
const FACET_LIMIT = 12; // values shown per facet before "more"

function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "testid") node.dataset.testid = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function webUrl(url) {
  return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
}

function link(url, text) {
  const href = webUrl(url);
  if (!href) return text || url || "";
  return h("a", { href, target: "_blank", rel: "noopener noreferrer", text: text || href });
}

function doiLink(doi) {
  if (!doi) return "";
  const bare = doi.replace(/^(https?:\/\/(dx\.)?doi\.org\/|doi:)/i, "");
  return link(`https://doi.org/${bare}`, bare);
}

function bytes(size) {
  if (size === null || size === undefined) return "";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = size;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

function label(field, value) {
  if (field === "has_ome_zarr") return value ? "OME-Zarr" : "not OME-Zarr";
  return String(value);
}

function thumbnail(url, alt) {
  const src = webUrl(url);
  if (!src) return h("div", { class: "bsb-thumb bsb-thumb-none", "aria-hidden": "true" });
  const img = h("img", {
    class: "bsb-thumb",
    src,
    alt: alt || "",
    loading: "lazy",
    referrerpolicy: "no-referrer",
  });
  img.addEventListener("error", () => img.classList.add("bsb-thumb-broken"));
  return img;
}

function chips(values, kind) {
  if (!values || !values.length) return null;
  return h("ul", { class: `bsb-chips bsb-chips-${kind}` }, values.map((v) => h("li", { text: v })));
}

function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

function render({ model, el }) {
  const send = (message) => model.send(message);
  const setAndSearch = (changes) => {
    for (const [key, value] of Object.entries(changes)) model.set(key, value);
    model.save_changes();
    send({ type: "search" });
  };

  // -- skeleton -------------------------------------------------------------------------
  const input = h("input", {
    type: "search",
    class: "bsb-query",
    placeholder: "Search bioimage repositories (e.g. mitosis, human, light sheet)",
    "aria-label": "Search query",
    testid: "browser-query",
  });
  const button = h("button", { type: "submit", class: "bsb-button", testid: "browser-search" }, "Search");
  const spinner = h("span", {
    class: "bsb-searching",
    role: "status",
    testid: "browser-searching",
    hidden: true,
  }, h("span", { class: "bsb-spinner", "aria-hidden": "true" }), "Searching…");
  const loading = h("span", { class: "bsb-searching", role: "status", testid: "browser-loading", hidden: true });
  const viewCards = h("button", { type: "button", class: "bsb-toggle", testid: "browser-view-cards" }, "Cards");
  const viewTable = h("button", { type: "button", class: "bsb-toggle", testid: "browser-view-table" }, "Table");
  viewCards.addEventListener("click", () => { model.set("view", "cards"); model.save_changes(); });
  viewTable.addEventListener("click", () => { model.set("view", "table"); model.save_changes(); });
  const form = h("form", { class: "bsb-bar", role: "search" }, input, button, spinner, loading,
    h("span", { class: "bsb-views" }, viewCards, viewTable));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setAndSearch({ query: input.value, page: 1 });
  });

  const statusLine = h("ul", { class: "bsb-statuses", "aria-label": "Repository status" });
  const errorBox = h("div", { class: "bsb-error", role: "alert", testid: "browser-error", hidden: true });
  const facetPane = h("aside", { class: "bsb-facets", "aria-label": "Filters" });
  const summary = h("div", { class: "bsb-summary", testid: "browser-summary" });
  const list = h("div", { class: "bsb-results" });
  const pager = h("nav", { class: "bsb-pager", "aria-label": "Pages" });
  const detailPane = h("section", { class: "bsb-detail", testid: "browser-detail", hidden: true });
  const main = h("div", { class: "bsb-main" }, summary, list, pager);
  const root = h("div", { class: "bioshare-browser" }, form, statusLine, errorBox,
    h("div", { class: "bsb-body" }, facetPane, main, detailPane));
  el.append(root);

  // -- parts ----------------------------------------------------------------------------
  function drawBar() {
    if (document.activeElement !== input) input.value = model.get("query");
    const searching = model.get("searching");
    spinner.hidden = !searching;
    button.disabled = searching;
    const busy = model.get("loading");
    loading.hidden = !busy;
    loading.textContent = busy === "open" ? "Opening…" : busy ? "Loading…" : "";
    const view = model.get("view");
    viewCards.setAttribute("aria-pressed", String(view === "cards"));
    viewTable.setAttribute("aria-pressed", String(view === "table"));
  }

  function drawStatuses() {
    const items = model.get("statuses").map((s) => h("li", {
      class: s.ok ? "bsb-ok" : "bsb-failed",
      testid: `browser-status-${s.repository}`,
      dataset: { repository: s.repository, ok: String(s.ok) },
      title: s.ok ? `${s.count} in ${s.seconds.toFixed(2)} s` : s.error || "failed",
    }, s.ok ? `✓ ${s.repository}: ${s.count}` : `✗ ${s.repository}: ${s.error || "failed"}`));
    if (model.get("offline")) {
      items.push(h("li", { class: "bsb-offline", testid: "browser-offline" }, "answered from the offline index"));
    }
    fill(statusLine, items);
  }

  function drawError() {
    const error = model.get("error");
    errorBox.hidden = !error;
    errorBox.textContent = error;
  }

  function facetValues(field) {
    const counted = (model.get("facets")[field] || []).slice();
    const filters = model.get("filters");
    const known = new Set(counted.map((f) => String(f.value)));
    const extra = field === "repository" ? model.get("repositories")
      : filters[field] !== null && filters[field] !== undefined ? [filters[field]] : [];
    for (const value of extra) {
      if (!known.has(String(value))) counted.push({ value, count: null });
      known.add(String(value));
    }
    return counted;
  }

  function isChecked(field, value) {
    const current = model.get("filters")[field];
    if (field === "repository") return (current || []).includes(value);
    return current !== null && current !== undefined && String(current) === String(value);
  }

  function toggle(field, value, checked) {
    const filters = { ...model.get("filters") };
    if (field === "repository") {
      const chosen = new Set(filters.repository || []);
      if (checked) chosen.add(value);
      else chosen.delete(value);
      filters.repository = model.get("repositories").filter((r) => chosen.has(r));
    } else {
      filters[field] = checked ? value : null;
    }
    setAndSearch({ filters, page: 1 });
  }

  function drawFacet(field, title) {
    const values = facetValues(field);
    if (!values.length) return null;
    const items = values.map((entry, index) => {
      const box = h("input", {
        type: "checkbox",
        testid: `browser-facet-${field}`,
        dataset: { value: String(entry.value) },
        checked: isChecked(field, entry.value),
      });
      box.addEventListener("change", () => toggle(field, entry.value, box.checked));
      const count = entry.count === null ? "" : h("span", { class: "bsb-count", text: entry.count });
      return h("li", { hidden: index >= FACET_LIMIT && !box.checked },
        h("label", {}, box, h("span", { class: "bsb-facet-value", text: label(field, entry.value) }), count));
    });
    const more = values.length > FACET_LIMIT
      ? h("button", { type: "button", class: "bsb-more", text: `${values.length - FACET_LIMIT} more` })
      : null;
    if (more) {
      more.addEventListener("click", () => {
        for (const item of items) item.hidden = false;
        more.remove();
      });
    }
    return h("fieldset", { class: "bsb-facet" }, h("legend", { text: title }), h("ul", {}, items), more);
  }

  function drawFacets() {
    const parts = FACETS.map(([field, title]) => drawFacet(field, title)).filter(Boolean);
    const total = model.get("total");
    const counted = model.get("counted");
    if (counted && (counted < total || model.get("more"))) {
      parts.push(h("p", { class: "bsb-note", text: `Counts cover the first ${counted} datasets.` }));
    }
    fill(facetPane, parts);
    facetPane.hidden = !parts.length;
  }

  function openDetails(result) {
    send({ type: "details", repository: result.repository, id: result.id });
  }

  function card(result) {
    const title = h("button", { type: "button", class: "bsb-title", text: result.title });
    const node = h("article", {
      class: "bsb-card",
      testid: "browser-result",
      dataset: { id: result.id, repository: result.repository },
      tabindex: 0,
    },
    thumbnail(result.thumbnail_url, result.title),
    h("div", { class: "bsb-card-body" },
      title,
      h("div", { class: "bsb-badges" },
        h("span", { class: "bsb-badge bsb-repo", text: result.repository }),
        result.has_ome_zarr ? h("span", { class: "bsb-badge bsb-zarr", text: "OME-Zarr" }) : null,
        result.license ? h("span", { class: "bsb-badge bsb-license", text: result.license }) : null,
        result.image_count ? h("span", { class: "bsb-badge", text: `${result.image_count} image(s)` }) : null),
      chips(result.organisms, "organism"),
      chips(result.imaging_methods, "method"),
      result.description ? h("p", { class: "bsb-description", text: result.description }) : null));
    node.addEventListener("click", (event) => {
      if (!event.target.closest("a")) openDetails(result);
    });
    node.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && event.target === node) openDetails(result);
    });
    return node;
  }

  function row(result) {
    const node = h("tr", {
      class: "bsb-row",
      testid: "browser-result",
      dataset: { id: result.id, repository: result.repository },
      tabindex: 0,
    },
    h("td", {}, thumbnail(result.thumbnail_url, "")),
    h("td", {}, h("button", { type: "button", class: "bsb-title", text: result.title })),
    h("td", { text: result.repository }),
    h("td", { text: result.organisms.join(", ") }),
    h("td", { text: result.imaging_methods.join(", ") }),
    h("td", { text: result.license || "" }),
    h("td", { text: result.has_ome_zarr ? "✓" : "" }));
    node.addEventListener("click", () => openDetails(result));
    node.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && event.target === node) openDetails(result);
    });
    return node;
  }

  function drawResults() {
    const results = model.get("results");
    const total = model.get("total");
    const query = model.get("query");
    if (!model.get("searched")) summary.textContent = "Type a query (or nothing, for everything) and search.";
    else if (!results.length) summary.textContent = `No datasets found${query ? ` for “${query}”` : ""}.`;
    else {
      const count = `${total}${model.get("more") ? "+" : ""}`;
      summary.textContent = `${count} dataset${total === 1 ? "" : "s"}${query ? ` for “${query}”` : ""}`;
    }
    list.classList.toggle("bsb-table-view", model.get("view") === "table");
    if (model.get("view") === "table" && results.length) {
      const head = h("tr", {}, ["", "Title", "Repository", "Organisms", "Imaging methods", "Licence", "OME-Zarr"]
        .map((t) => h("th", { text: t })));
      list.replaceChildren(h("table", { class: "bsb-table" }, h("thead", {}, head),
        h("tbody", {}, results.map(row))));
    } else {
      fill(list, results.map(card));
    }
  }

  function drawPager() {
    const page = model.get("page");
    const pages = model.get("pages");
    const more = model.get("more"); // a repository may have more than was fetched
    const prev = h("button", { type: "button", class: "bsb-button", testid: "browser-prev", disabled: page <= 1 }, "‹ Previous");
    const next = h("button", {
      type: "button", class: "bsb-button", testid: "browser-next", disabled: page >= pages && !more,
    }, "Next ›");
    prev.addEventListener("click", () => setAndSearch({ page: page - 1 }));
    next.addEventListener("click", () => setAndSearch({ page: page + 1 }));
    const text = `page ${pages ? page : 0} of ${pages}${more ? "+" : ""}`;
    pager.replaceChildren(prev, h("span", { class: "bsb-page", testid: "browser-page", text }), next);
    pager.hidden = pages <= 1 && !more;
  }

  function metadataRows(d) {
    const terms = (list) => (list || []).map((t) => (t.curie ? `${t.label} (${t.curie})` : t.label)).join(", ");
    const rows = [
      ["Repository", d.repository],
      ["Identifier", d.id],
      ["DOI", d.doi ? doiLink(d.doi) : ""],
      ["Web page", d.url ? link(d.url) : ""],
      ["Licence", d.license || ""],
      ["Authors", (d.authors || []).join(", ")],
      ["Released", d.release_date || ""],
      ["Organisms", terms(d.organisms)],
      ["Imaging methods", terms(d.imaging_methods)],
      ["Keywords", (d.keywords || []).join(", ")],
      ["Images", d.image_count ?? ""],
      ["Size", bytes(d.size_bytes)],
      ["OME-Zarr", d.has_ome_zarr ? "yes" : "no"],
      ["Also in", (d.also_in || []).join(", ")],
      ["Accessions", (d.accessions || []).join(", ")],
    ];
    return rows.filter(([, value]) => value !== "" && value !== null && value !== undefined)
      .map(([name, value]) => h("tr", {}, h("th", { scope: "row", text: name }), h("td", {}, value)));
  }

  function imageItem(d, image) {
    const open = h("button", {
      type: "button",
      class: "bsb-button bsb-open",
      testid: "browser-open",
      dataset: { image: image.id },
      disabled: !(image.zarr_url || image.download_url),
      title: image.zarr_url
        ? `Open ${image.zarr_url}`
        : image.download_url
          ? `Download and open the ${image.format.toUpperCase()} image`
          : "Not available as OME-Zarr: cannot be streamed",
    }, "Open");
    open.addEventListener("click", () => send({ type: "open", repository: d.repository, id: d.id, image: image.id }));
    const facts = [
      image.shape ? image.shape.join(" × ") : null,
      image.dims ? `(${image.dims.join(", ")})` : null,
      image.dtype,
    ].filter(Boolean).join(" ");
    const opened = model.get("opened");
    const isOpen = opened.repository === d.repository && opened.dataset === d.id && opened.id === image.id;
    return h("li", { class: isOpen ? "bsb-image bsb-image-open" : "bsb-image", testid: "browser-image", dataset: { id: image.id } },
      image.thumbnail_url ? thumbnail(image.thumbnail_url, image.name) : null,
      h("span", { class: "bsb-image-name", text: image.name }),
      facts ? h("span", { class: "bsb-image-facts", text: facts }) : null,
      open,
      isOpen ? h("span", { class: "bsb-opened", testid: "browser-opened", text: "opened" }) : null);
  }

  function drawDetail() {
    const d = model.get("detail");
    if (!d || !d.id) {
      detailPane.hidden = true;
      detailPane.replaceChildren();
      return;
    }
    const close = h("button", { type: "button", class: "bsb-close", testid: "browser-detail-close", "aria-label": "Close details" }, "×");
    close.addEventListener("click", () => { model.set("detail", {}); model.save_changes(); });
    const images = d.images || [];
    detailPane.hidden = false;
    detailPane.dataset.id = d.id;
    detailPane.dataset.repository = d.repository;
    fill(detailPane,
      h("header", { class: "bsb-detail-head" }, h("h3", { text: d.title }), close),
      webUrl(d.thumbnail_url) ? thumbnail(d.thumbnail_url, d.title) : null,
      h("table", { class: "bsb-meta" }, h("tbody", {}, metadataRows(d))),
      d.description ? h("p", { class: "bsb-description", text: d.description }) : null,
      h("h4", { text: `Images (${images.length})` }),
      d.images_error ? h("p", { class: "bsb-error-inline", text: `Could not list the images: ${d.images_error}` }) : null,
      h("ul", { class: "bsb-images" }, images.map((image) => imageItem(d, image))));
  }

  // -- wiring ---------------------------------------------------------------------------
  const handlers = [
    ["change:query change:searching change:loading change:view", drawBar],
    ["change:statuses change:offline", drawStatuses],
    ["change:error", drawError],
    ["change:facets change:filters change:repositories change:counted change:total change:more", drawFacets],
    ["change:results change:total change:more change:view change:searched", drawResults],
    ["change:page change:pages change:more", drawPager],
    ["change:detail change:opened", drawDetail],
  ];
  for (const [events, handler] of handlers) model.on(events, handler);
  for (const [, handler] of handlers) handler();
  return () => {
    for (const [events, handler] of handlers) model.off(events, handler);
  };
}

export default { render };
