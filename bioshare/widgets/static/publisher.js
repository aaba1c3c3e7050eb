// bioshare Publisher: target, metadata check, dry-run manifest, publish, DOI.
// Self-contained ES module (no imports: works offline and behind firewalls).
//
// The access token lives in a password field only. It is never put in the model (so it is
// never saved with the notebook): it travels once, inside the "publish" message.
// Messages to Python: {type: "check"}, {type: "publish", token, confirm}.

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "testid") node.dataset.testid = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function bytes(n) {
  if (!Number.isFinite(n)) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

function copyButton(getText, testid) {
  const button = h("button", {
    type: "button",
    class: "bp-copy",
    testid,
    text: "Copy",
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(getText());
        button.textContent = "Copied";
      } catch (_) {
        button.textContent = "Select and copy";
      }
      setTimeout(() => {
        button.textContent = "Copy";
      }, 1500);
    },
  });
  return button;
}

function render({ model, el }) {
  const uid = Math.random().toString(36).slice(2, 10);
  const root = h("div", { class: "bioshare-publisher" });
  el.appendChild(root);

  // -- target and credentials -------------------------------------------------------------

  const target = h("select", {
    id: `bp-${uid}-target`,
    testid: "publisher-target",
    onchange: (e) => {
      model.set("target", e.target.value);
      model.save_changes();
    },
  });
  const url = h("input", {
    type: "url",
    testid: "publisher-invenio-url",
    placeholder: "https://inveniordm.example.org",
    "aria-label": "InvenioRDM URL",
    onchange: (e) => {
      model.set("invenio_url", e.target.value.trim());
      model.save_changes();
    },
  });
  const token = h("input", {
    type: "password",
    id: `bp-${uid}-token`,
    testid: "publisher-token",
    autocomplete: "new-password",
    spellcheck: false,
    placeholder: "personal access token (else ZENODO_TOKEN, INVENIO_TOKEN or keyring)",
  });
  const confirm = h("input", {
    type: "checkbox",
    testid: "publisher-confirm",
    onchange: () => drawButtons(),
  });
  const urlRow = h("div", { class: "bp-row" }, h("label", { text: "URL" }), url);
  const tokenRow = h(
    "div",
    { class: "bp-row" },
    h("label", { for: `bp-${uid}-token`, text: "Token" }),
    token,
  );
  const confirmRow = h(
    "label",
    { class: "bp-confirm" },
    confirm,
    " I understand that a Zenodo DOI is permanent and the files cannot be changed",
  );

  // -- status, buttons, results -----------------------------------------------------------

  const validation = h("div", { class: "bp-validation", testid: "publisher-validation" });
  const check = h("button", {
    type: "button",
    testid: "publisher-check",
    text: "Check (dry run)",
    onclick: () => model.send({ type: "check" }),
  });
  const publish = h("button", {
    type: "button",
    class: "bp-publish",
    testid: "publisher-publish",
    text: "Publish",
    onclick: () => {
      // The token goes in this message only; it is never model state.
      const needsToken = model.get("target") !== "local";
      model.send({ type: "publish", token: needsToken ? token.value : "", confirm: confirm.checked });
    },
  });
  const state = h("span", { class: "bp-state", testid: "publisher-state", role: "status" });
  const progressBar = h("progress", { class: "bp-progress", testid: "publisher-progress" });
  const progressText = h("span", { class: "bp-progress-text", testid: "publisher-progress-text" });
  const manifest = h("table", { class: "bp-manifest", testid: "publisher-manifest" });
  const error = h("div", { class: "bp-error", testid: "publisher-error", role: "alert" });
  const result = h("div", { class: "bp-result", testid: "publisher-result" });

  root.append(
    h("div", { class: "bp-source", testid: "publisher-source" }),
    h(
      "div",
      { class: "bp-row" },
      h("label", { for: `bp-${uid}-target`, text: "Publish to" }),
      target,
    ),
    urlRow,
    tokenRow,
    confirmRow,
    validation,
    h("div", { class: "bp-actions" }, check, publish, state),
    h("div", { class: "bp-progress-row" }, progressBar, progressText),
    manifest,
    error,
    result,
  );

  // -- drawing ----------------------------------------------------------------------------

  function drawTarget() {
    const targets = model.get("targets") || {};
    const chosen = model.get("target");
    target.replaceChildren(
      ...Object.entries(targets).map(([value, label]) => h("option", { value, text: label })),
    );
    target.value = chosen;
    url.value = model.get("invenio_url") || "";
    urlRow.hidden = chosen !== "invenio";
    tokenRow.hidden = chosen === "local";
    confirmRow.hidden = chosen !== "zenodo";
    if (chosen !== "zenodo") confirm.checked = false;
    root.querySelector(".bp-source").textContent = `Data: ${model.get("source") || ""}`;
    drawButtons();
  }

  function drawValidation() {
    const v = model.get("validation") || {};
    const items = [];
    if (v.ok) {
      items.push(h("div", { class: "bp-ok", text: `✓ The metadata has what ${v.target} needs` }));
    } else {
      items.push(h("div", { class: "bp-not-ok", text: "✗ Not ready to publish" }));
    }
    for (const m of v.missing || []) {
      items.push(
        h(
          "div",
          { class: "bp-missing", testid: `publisher-missing-${m.path}` },
          "missing: ",
          h("strong", { text: m.label }),
          " ",
          h("code", { text: m.path }),
        ),
      );
    }
    for (const line of v.invalid || []) {
      items.push(h("div", { class: "bp-invalid", text: `invalid: ${line}` }));
    }
    if (!v.ok && v.message && !(v.missing || []).length && !(v.invalid || []).length) {
      items.push(h("div", { class: "bp-invalid", text: v.message }));
    }
    if ((v.warnings || []).length) {
      items.push(
        h(
          "details",
          { class: "bp-warnings" },
          h("summary", { text: `${v.warnings.length} REMBI field(s) still missing (not blocking)` }),
          h("ul", {}, v.warnings.map((w) => h("li", { text: w }))),
        ),
      );
    }
    validation.replaceChildren(...items);
    drawButtons();
  }

  function drawButtons() {
    const s = model.get("state");
    const busy = s === "checking" || s === "publishing";
    const v = model.get("validation") || {};
    check.disabled = busy;
    target.disabled = busy;
    url.disabled = busy;
    const needsConfirm = model.get("target") === "zenodo" && !confirm.checked;
    publish.disabled = busy || !v.ok || needsConfirm;
  }

  function drawState() {
    const s = model.get("state");
    const labels = {
      idle: "Ready",
      checking: "Checking…",
      publishing: "Publishing…",
      done: "Published",
      error: "Failed",
    };
    state.textContent = labels[s] || s;
    state.className = `bp-state bp-state-${s}`;
    state.dataset.state = s;
    const text = model.get("error") || "";
    error.textContent = text;
    error.hidden = !text;
    if (s === "done") token.value = ""; // nothing left to type it for
    drawButtons();
    drawProgress();
  }

  function drawProgress() {
    const p = model.get("progress") || {};
    const s = model.get("state");
    const active = s === "publishing" || s === "done";
    progressBar.hidden = !active || !p.phase;
    progressText.hidden = progressBar.hidden;
    if (p.indeterminate || !p.total) progressBar.removeAttribute("value");
    else {
      progressBar.max = p.total;
      progressBar.value = p.done || 0;
    }
    const parts = [p.phase || ""];
    if (p.files_total) parts.push(`${p.files_done || 0}/${p.files_total} files`);
    if (p.total) parts.push(`${bytes(p.done || 0)} of ${bytes(p.total)}`);
    if (p.file && s === "publishing") parts.push(`now: ${p.file}`);
    progressText.textContent = parts.filter(Boolean).join(" · ");
    drawManifest();
  }

  function drawManifest() {
    const rows = model.get("manifest") || [];
    const completed = new Set((model.get("progress") || {}).completed || []);
    // The local repository publishes OME-Zarr folders the dry run lists as zips.
    const isDone = (name) => completed.has(name) || completed.has(name.replace(/\.zip$/, ""));
    if (!rows.length) {
      manifest.replaceChildren();
      manifest.hidden = true;
      return;
    }
    manifest.hidden = false;
    manifest.replaceChildren(
      h(
        "thead",
        {},
        h("tr", {}, ["", "File", "Size", "MD5"].map((t) => h("th", { text: t }))),
      ),
      h(
        "tbody",
        {},
        rows.map((f) =>
          h(
            "tr",
            { testid: "publisher-manifest-row", "data-name": f.name },
            h("td", { class: "bp-done", text: isDone(f.name) ? "✓" : "" }),
            h("td", { text: f.name }),
            h("td", { class: "bp-size", text: bytes(f.size), title: `${f.size} bytes` }),
            h("td", {}, h("code", { text: f.md5 })),
          ),
        ),
      ),
    );
  }

  function drawResult() {
    const r = model.get("result") || {};
    if (!r.record_id) {
      result.replaceChildren();
      result.hidden = true;
      return;
    }
    result.hidden = false;
    const link = r.doi_url || r.url;
    const citation = h("pre", { class: "bp-snippet", testid: "publisher-citation", text: r.citation });
    const badge = h("pre", { class: "bp-snippet", testid: "publisher-badge", text: r.badge });
    result.replaceChildren(
      h(
        "div",
        { class: "bp-doi-row" },
        r.doi ? "DOI: " : "Record: ",
        h("a", {
          href: link,
          target: "_blank",
          rel: "noopener noreferrer",
          testid: "publisher-doi",
          text: r.doi || r.record_id,
        }),
      ),
      h("div", { class: "bp-label" }, "Citation ", copyButton(() => r.citation, "publisher-copy-citation")),
      citation,
      h("div", { class: "bp-label" }, "Badge (Markdown) ", copyButton(() => r.badge, "publisher-copy-badge")),
      badge,
    );
  }

  model.on("change:target", drawTarget);
  model.on("change:targets", drawTarget);
  model.on("change:invenio_url", drawTarget);
  model.on("change:source", drawTarget);
  model.on("change:validation", drawValidation);
  model.on("change:state", drawState);
  model.on("change:error", drawState);
  model.on("change:progress", drawProgress);
  model.on("change:manifest", drawManifest);
  model.on("change:result", drawResult);

  drawTarget();
  drawValidation();
  drawState();
  drawResult();
  return () => {
    token.value = "";
  };
}

export default { render };
