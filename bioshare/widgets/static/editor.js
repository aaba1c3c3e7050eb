// bioshare MetadataEditor: a REMBI form generated from the `schema` trait.
// Self-contained ES module (no imports: works offline and behind firewalls).
//
// State: `values` (the form data, sent to Python 300 ms after the last keystroke),
// `issues`, `score`, `ok`, `saved_at`, `message` (from Python).
// Messages to Python: {type: "lookup", path, ontology, text, seq},
// {type: "import", path}, {type: "export", path}.
// Messages from Python: {type: "suggestions", path, seq, terms: [{curie, label, iri, ontology}]}.

const DEBOUNCE_MS = 300;
const LOOKUP_MS = 200;
const MAX_ROWS = 50; // rows of a long list (files) shown at once

// -- helpers ------------------------------------------------------------------------------

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

function clone(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

function stable(value) {
  // JSON with sorted keys, to compare values whatever their key order
  if (Array.isArray(value)) return `[${value.map(stable).join(",")}]`;
  if (value && typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stable(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value === undefined ? null : value);
}

// "author[0].contact_email" -> "author.0.contact_email"
export function dotted(path) {
  return String(path).replace(/\[(\d+)\]/g, ".$1");
}

function join(...parts) {
  return parts.filter((p) => p !== "" && p !== undefined && p !== null).join(".");
}

function partsOf(path) {
  return path === "" ? [] : path.split(".").map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

function getAt(data, path) {
  let node = data;
  for (const part of partsOf(path)) {
    if (node === null || node === undefined) return undefined;
    node = node[part];
  }
  return node;
}

function isEmpty(value) {
  return (
    value === undefined ||
    value === null ||
    value === "" ||
    (Array.isArray(value) && value.length === 0) ||
    (typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 0)
  );
}

function setAt(data, path, value) {
  const parts = partsOf(path);
  let node = data;
  for (let i = 0; i < parts.length - 1; i++) {
    const part = parts[i];
    const next = parts[i + 1];
    if (node[part] === undefined || node[part] === null || typeof node[part] !== "object") {
      node[part] = typeof next === "number" ? [] : {};
    }
    node = node[part];
  }
  const last = parts[parts.length - 1];
  if (isEmpty(value) && !Array.isArray(node)) delete node[last];
  else node[last] = value;
}

function termText(term) {
  if (term && typeof term === "object") return `${term.label} (${term.curie})`;
  return String(term);
}

function cssEscape(text) {
  return window.CSS && CSS.escape ? CSS.escape(text) : text.replace(/["\\]/g, "\\$&");
}

// -- the widget ---------------------------------------------------------------------------

function render({ model, el }) {
  const schema = model.get("schema") || { sections: [] };
  let values = clone(model.get("values")) || {};
  let sent = stable(values);
  let timer = null;
  let seq = 0;
  const lookups = {}; // path -> {seq, show(terms)}
  const uid = Math.random().toString(36).slice(2, 10); // ids unique per view

  const root = h("div", { class: "bioshare-editor" });
  el.appendChild(root);

  // -- sending values ---------------------------------------------------------------------

  function flush() {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    const text = stable(values);
    if (text === sent) return;
    sent = text;
    model.set("values", clone(values));
    model.save_changes();
  }

  function changed(now = false) {
    if (timer !== null) clearTimeout(timer);
    timer = now ? null : setTimeout(flush, DEBOUNCE_MS);
    if (now) flush();
  }

  function update(path, value, now = false) {
    setAt(values, path, value);
    changed(now);
  }

  // -- header: score, status, import/export -----------------------------------------------

  const score = h("span", { class: "be-score", testid: "editor-score" });
  const bar = h("progress", { class: "be-score-bar", max: 100, value: 0 });
  const status = h("span", { class: "be-status", testid: "editor-status" });
  const saved = h("span", { class: "be-saved", testid: "editor-saved" });
  const message = h("div", { class: "be-message", testid: "editor-message", role: "status" });
  const fileInput = h("input", {
    type: "text",
    class: "be-file",
    testid: "editor-file",
    placeholder: "metadata.xlsx (or .csv, .tsv)",
    "aria-label": "Spreadsheet path",
  });
  const sendFile = (type) => () => {
    flush();
    model.send({ type, path: fileInput.value.trim() });
  };
  const summary = h("details", { class: "be-summary", testid: "editor-summary" });
  root.append(
    h(
      "div",
      { class: "be-header" },
      h("strong", { class: "be-heading", text: "REMBI metadata" }),
      bar,
      score,
      status,
      saved,
    ),
    h(
      "div",
      { class: "be-toolbar" },
      fileInput,
      h("button", {
        type: "button",
        testid: "editor-import",
        text: "Import spreadsheet",
        onclick: sendFile("import"),
      }),
      h("button", {
        type: "button",
        testid: "editor-export",
        text: "Export spreadsheet",
        onclick: sendFile("export"),
      }),
    ),
    message,
    summary,
  );
  const form = h("div", { class: "be-form" });
  root.append(form);

  // -- fields -----------------------------------------------------------------------------

  function labelOf(field, path) {
    const required = field.obligation === "required";
    return h(
      "label",
      { class: "be-label", for: `be-${uid}-${path}` },
      field.label,
      required ? h("span", { class: "be-required", title: "required", text: " *" }) : null,
      field.obligation === "desirable"
        ? h("span", { class: "be-desirable", title: "desirable", text: " (desirable)" })
        : null,
    );
  }

  function helpOf(field) {
    const parts = [];
    if (field.description) parts.push(field.description);
    if (field.example) parts.push(`e.g. ${field.example}`);
    return parts.length ? h("div", { class: "be-help", text: parts.join(" — ") }) : null;
  }

  function wrap(field, path, control) {
    return h(
      "div",
      {
        class: `be-field be-ob-${field.obligation} be-kind-${field.kind}`,
        "data-path": path,
      },
      field.kind === "group" ? null : labelOf(field, path),
      control,
      field.kind === "group" ? null : helpOf(field),
      h("div", { class: "be-issues" }),
    );
  }

  function inputAttrs(field, path, extra = {}) {
    return {
      id: `be-${uid}-${path}`,
      testid: `editor-field-${path}`,
      "aria-required": field.obligation === "required" ? "true" : null,
      placeholder: field.example || "",
      ...extra,
    };
  }

  function textControl(field, path) {
    const value = getAt(values, path);
    const tag = field.kind === "textarea" ? "textarea" : "input";
    const input = h(
      tag,
      inputAttrs(field, path, {
        type: tag === "input" ? "text" : null,
        rows: tag === "textarea" ? 2 : null,
        oninput: (e) => update(path, e.target.value),
        onchange: () => flush(),
      }),
    );
    input.value = value === undefined || value === null ? "" : String(value);
    return input;
  }

  function dateControl(field, path) {
    const input = h(
      "input",
      inputAttrs(field, path, {
        type: "date",
        oninput: (e) => update(path, e.target.value),
        onchange: () => flush(),
      }),
    );
    input.value = getAt(values, path) || "";
    return input;
  }

  function numberControl(field, path) {
    const input = h(
      "input",
      inputAttrs(field, path, {
        type: "number",
        step: "any",
        oninput: (e) => {
          const text = e.target.value;
          update(path, text === "" ? null : Number(text));
        },
        onchange: () => flush(),
      }),
    );
    const value = getAt(values, path);
    input.value = value === undefined || value === null ? "" : String(value);
    return input;
  }

  function choiceControl(field, path, choices) {
    const value = getAt(values, path);
    const select = h(
      "select",
      inputAttrs(field, path, {
        onchange: (e) => update(path, e.target.value, true),
      }),
      h("option", { value: "", text: "—" }),
      choices.map((c) => h("option", { value: c.value, text: c.label })),
    );
    if (value && !choices.some((c) => c.value === value)) {
      select.append(h("option", { value, text: String(value) }));
    }
    select.value = value || "";
    return select;
  }

  function referenceControl(field, path) {
    const titles = (values[field.collection] || [])
      .map((item) => item && item.title)
      .filter((title) => title);
    return choiceControl(
      field,
      path,
      titles.map((t) => ({ value: t, label: t })),
    );
  }

  function listControl(field, path) {
    const items = getAt(values, path) || [];
    const area = h(
      "textarea",
      inputAttrs(field, path, {
        rows: Math.max(2, Math.min(items.length + 1, 6)),
        placeholder: "one per line",
        oninput: (e) => {
          let lines = e.target.value.split("\n").map((l) => l.trim());
          lines = lines.filter((l) => l !== "");
          if (field.value_type === "number") lines = lines.map(Number);
          update(path, lines);
        },
        onchange: () => flush(),
      }),
    );
    area.value = items.map(String).join("\n");
    return area;
  }

  function mappingControl(field, path) {
    const mapping = getAt(values, path) || {};
    const area = h(
      "textarea",
      inputAttrs(field, path, {
        rows: 2,
        placeholder: "key: value (one per line)",
        oninput: (e) => {
          const result = {};
          for (const line of e.target.value.split("\n")) {
            const at = line.indexOf(":");
            if (at <= 0) continue;
            const key = line.slice(0, at).trim();
            const text = line.slice(at + 1).trim();
            if (!key) continue;
            result[key] = field.value_type === "number" && text !== "" ? Number(text) : text;
          }
          update(path, result);
        },
        onchange: () => flush(),
      }),
    );
    area.value = Object.entries(mapping)
      .map(([k, v]) => `${k}: ${v}`)
      .join("\n");
    return area;
  }

  function multiControl(field, path) {
    const chosen = new Set(getAt(values, path) || []);
    const box = h("div", {
      class: "be-multi",
      testid: `editor-field-${path}`,
      role: "group",
    });
    for (const choice of field.choices) {
      const check = h("input", {
        type: "checkbox",
        testid: `editor-field-${path}-${choice.value}`,
        checked: chosen.has(choice.value),
        onchange: (e) => {
          if (e.target.checked) chosen.add(choice.value);
          else chosen.delete(choice.value);
          const ordered = field.choices.map((c) => c.value).filter((v) => chosen.has(v));
          update(path, ordered, true);
        },
      });
      box.append(h("label", { class: "be-check" }, check, ` ${choice.label}`));
    }
    return box;
  }

  function termControl(field, path) {
    const box = h("div", { class: "be-term" });
    const chips = h("div", { class: "be-chips" });
    const list = h("ul", { class: "be-suggestions", role: "listbox", hidden: true });
    const input = h(
      "input",
      inputAttrs(field, path, {
        type: "text",
        autocomplete: "off",
        role: "combobox",
        "aria-autocomplete": "list",
        placeholder: `search ${field.ontology.join(", ").toUpperCase()}…`,
      }),
    );
    let shown = [];
    let active = -1;
    let lookupTimer = null;

    function drawChips() {
      chips.replaceChildren();
      const terms = getAt(values, path) || [];
      terms.forEach((term, index) => {
        chips.append(
          h(
            "span",
            { class: "be-chip", testid: `editor-term-${path}.${index}` },
            termText(term),
            h("button", {
              type: "button",
              class: "be-chip-remove",
              title: "remove",
              "aria-label": `remove ${termText(term)}`,
              text: "×",
              onclick: () => {
                const next = (getAt(values, path) || []).filter((_, i) => i !== index);
                update(path, next, true);
                drawChips();
              },
            }),
          ),
        );
      });
    }

    function pick(term) {
      const terms = getAt(values, path) || [];
      const curie = term.curie;
      if (!terms.some((t) => t && t.curie === curie)) {
        const { curie: c, label, iri, ontology } = term;
        update(path, [...terms, { curie: c, label, iri, ontology }], true);
      }
      input.value = "";
      show([]);
      drawChips();
      input.focus();
    }

    function highlight(index) {
      active = index;
      [...list.children].forEach((item, i) => {
        item.classList.toggle("be-active", i === index);
        item.setAttribute("aria-selected", i === index ? "true" : "false");
      });
    }

    function show(terms) {
      shown = terms;
      list.replaceChildren(
        ...terms.map((term, i) =>
          h(
            "li",
            {
              class: "be-suggestion",
              testid: "editor-suggestion",
              role: "option",
              "data-curie": term.curie,
              onmousedown: (e) => {
                e.preventDefault(); // keep the focus in the input
                pick(term);
              },
              onmouseenter: () => highlight(i),
            },
            h("span", { class: "be-suggestion-label", text: term.label }),
            h("span", { class: "be-suggestion-curie", text: ` ${term.curie}` }),
          ),
        ),
      );
      list.hidden = terms.length === 0;
      highlight(terms.length ? 0 : -1);
    }

    function ask() {
      const text = input.value.trim();
      if (text.length < 2) {
        show([]);
        return;
      }
      const request = ++seq;
      lookups[path].seq = request;
      model.send({ type: "lookup", path, ontology: field.ontology, text, seq: request });
    }

    input.addEventListener("input", () => {
      if (lookupTimer !== null) clearTimeout(lookupTimer);
      lookupTimer = setTimeout(ask, LOOKUP_MS);
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "ArrowDown" && shown.length) {
        e.preventDefault();
        highlight((active + 1) % shown.length);
      } else if (e.key === "ArrowUp" && shown.length) {
        e.preventDefault();
        highlight((active - 1 + shown.length) % shown.length);
      } else if (e.key === "Enter") {
        e.preventDefault();
        if (shown.length) pick(shown[Math.max(active, 0)]);
      } else if (e.key === "Escape") {
        show([]);
      }
    });
    input.addEventListener("blur", () => setTimeout(() => show([]), 150));
    lookups[path] = { seq: 0, show };
    drawChips();
    box.append(chips, input, list);
    return box;
  }

  function groupControl(field, path) {
    const items = getAt(values, path) || [];
    const box = h("div", { class: "be-group", "data-group": path });
    box.append(
      h(
        "div",
        { class: "be-group-title" },
        labelOf(field, path),
        h("span", { class: "be-count", text: ` (${items.length})` }),
      ),
    );
    if (field.description) box.append(helpOf(field));
    items.slice(0, MAX_ROWS).forEach((_, index) => {
      box.append(itemOf(field, path, index));
    });
    if (items.length > MAX_ROWS) {
      box.append(h("div", { class: "be-more", text: `… and ${items.length - MAX_ROWS} more` }));
    }
    if (!field.readonly) {
      box.append(
        h("button", {
          type: "button",
          class: "be-add",
          testid: `editor-add-${path}`,
          text: `+ Add ${field.item_label.toLowerCase()}`,
          onclick: () => {
            const next = [...(getAt(values, path) || []), {}];
            update(path, next, true);
            draw();
            const first = form.querySelector(
              `[data-path="${cssEscape(`${path}.${next.length - 1}`)}"] input, ` +
                `[data-path="${cssEscape(`${path}.${next.length - 1}`)}"] textarea`,
            );
            if (first) first.focus();
          },
        }),
      );
    }
    return box;
  }

  function itemOf(field, path, index) {
    const itemPath = `${path}.${index}`;
    const item = getAt(values, itemPath) || {};
    const title = item.title || item.display_name || item.file_path || item.channel_label;
    const legend = h(
      "legend",
      {},
      `${field.item_label} ${index + 1}`,
      title ? h("span", { class: "be-item-title", text: `: ${title}` }) : null,
      h("button", {
        type: "button",
        class: "be-remove",
        testid: `editor-remove-${itemPath}`,
        title: `remove ${field.item_label.toLowerCase()} ${index + 1}`,
        text: "Remove",
        onclick: () => {
          const next = (getAt(values, path) || []).filter((_, i) => i !== index);
          update(path, next, true);
          draw();
        },
      }),
    );
    const box = h("fieldset", { class: "be-item", "data-path": itemPath }, legend);
    if (field.readonly) {
      box.append(readonlyOf(field, item, itemPath));
    } else {
      for (const child of field.fields) box.append(fieldOf(child, join(itemPath, child.key)));
    }
    box.append(h("div", { class: "be-issues" }));
    return box;
  }

  function readonlyOf(field, item, path) {
    const rows = field.fields
      .filter((f) => !isEmpty(item[f.key]))
      .map((f) => {
        let value = item[f.key];
        if (Array.isArray(value)) value = value.join(" × ");
        else if (value && typeof value === "object") {
          value = Object.entries(value)
            .map(([k, v]) => `${k}: ${v}`)
            .join(", ");
        }
        return h("tr", {}, h("th", { text: f.label }), h("td", { text: String(value) }));
      });
    return h("table", { class: "be-readonly", testid: `editor-field-${path}` }, rows);
  }

  function fieldOf(field, path) {
    const controls = {
      text: textControl,
      textarea: textControl,
      date: dateControl,
      number: numberControl,
      choice: (f, p) => choiceControl(f, p, f.choices),
      reference: referenceControl,
      list: listControl,
      mapping: mappingControl,
      multichoice: multiControl,
      term: termControl,
      group: groupControl,
    };
    const make = controls[field.kind] || textControl;
    return wrap(field, path, make(field, path));
  }

  function sectionOf(section) {
    const items = section.repeatable ? getAt(values, section.path) || [] : null;
    const count = items ? ` (${items.length})` : "";
    // The add button sits in the always visible header: it opens the section too.
    const add = section.repeatable
      ? h("button", {
          type: "button",
          class: "be-add be-section-add",
          testid: `editor-add-${section.key}`,
          text: `+ Add ${section.item_label.toLowerCase()}`,
          onclick: (e) => {
            e.preventDefault(); // no toggle of the section by the click
            opened.add(section.key);
            const next = [...(getAt(values, section.path) || []), {}];
            update(section.path, next, true);
            draw();
            const first = form.querySelector(
              `[data-path="${cssEscape(`${section.path}.${next.length - 1}`)}"] input`,
            );
            if (first) first.focus();
          },
        })
      : null;
    const head = h(
      "summary",
      { class: "be-section-title" },
      section.title,
      count,
      section.obligation === "required" && section.repeatable
        ? h("span", { class: "be-required", title: "required", text: " *" })
        : null,
      h("span", { class: "be-section-issues" }),
      add,
    );
    const open = opened.has(section.key);
    const box = h(
      "details",
      {
        class: "be-section",
        testid: `editor-section-${section.key}`,
        "data-path": section.path,
        "data-section": section.key,
        open,
      },
      head,
    );
    box.addEventListener("toggle", () => {
      if (box.open) opened.add(section.key);
      else opened.delete(section.key);
    });
    if (section.description) box.append(h("div", { class: "be-help", text: section.description }));
    if (!section.repeatable) {
      for (const field of section.fields) box.append(fieldOf(field, field.key));
      box.append(h("div", { class: "be-issues" }));
      return box;
    }
    const group = {
      kind: "group",
      key: section.key,
      label: section.title,
      item_label: section.item_label,
      obligation: section.obligation,
      fields: section.fields,
    };
    items.slice(0, MAX_ROWS).forEach((_, index) => box.append(itemOf(group, section.path, index)));
    if (items.length > MAX_ROWS) {
      box.append(h("div", { class: "be-more", text: `… and ${items.length - MAX_ROWS} more` }));
    }
    box.append(h("div", { class: "be-issues" }));
    return box;
  }

  const opened = new Set(["study"]);

  // -- drawing ----------------------------------------------------------------------------

  function draw() {
    // Keep the focus (and caret) where it was across a redraw.
    const focused = document.activeElement;
    const testid = focused && root.contains(focused) ? focused.dataset.testid : null;
    let selection = null;
    if (testid && typeof focused.selectionStart === "number") {
      selection = [focused.selectionStart, focused.selectionEnd];
    }
    form.replaceChildren(...schema.sections.map(sectionOf));
    showIssues();
    if (testid) {
      const again = form.querySelector(`[data-testid="${cssEscape(testid)}"]`);
      if (again) {
        again.focus();
        if (selection && typeof again.setSelectionRange === "function") {
          try {
            again.setSelectionRange(...selection);
          } catch (_) {
            // inputs of type date or number have no selection
          }
        }
      }
    }
  }

  function placeOf(path) {
    // The field, item or section showing the issue at `path` (or its nearest parent).
    let key = path;
    while (true) {
      const node = form.querySelector(`[data-path="${cssEscape(key)}"]`);
      if (node) return node;
      if (!key.includes(".")) break;
      key = key.slice(0, key.lastIndexOf("."));
    }
    return form.querySelector('[data-section="study"]');
  }

  function showIssues() {
    for (const node of form.querySelectorAll(".be-issues")) node.replaceChildren();
    for (const node of form.querySelectorAll(".be-invalid-field")) {
      node.classList.remove("be-invalid-field");
    }
    const issues = model.get("issues") || [];
    const perSection = {};
    for (const issue of issues) {
      // Desirable fields are marked as such; what is missing of them is in the summary.
      if (issue.level === "missing-desirable") continue;
      const key = dotted(issue.path);
      const place = placeOf(key);
      if (!place) continue;
      const slot = place.querySelector(":scope > .be-issues");
      const line = h("div", {
        class: `be-issue be-${issue.level}`,
        testid: `editor-issue-${key}`,
        text: issue.message,
      });
      if (slot) slot.append(line);
      if (issue.level === "invalid") place.classList.add("be-invalid-field");
      const section = place.closest(".be-section");
      if (section) {
        const name = section.dataset.section;
        perSection[name] = (perSection[name] || 0) + 1;
      }
    }
    for (const section of form.querySelectorAll(".be-section")) {
      const count = perSection[section.dataset.section] || 0;
      const badge = section.querySelector(".be-section-issues");
      if (badge) badge.textContent = count ? ` ⚠ ${count}` : "";
    }
    drawSummary(issues);
  }

  function drawSummary(issues) {
    const invalid = issues.filter((i) => i.level === "invalid");
    const required = issues.filter((i) => i.level === "missing-required");
    const desirable = issues.filter((i) => i.level === "missing-desirable");
    summary.replaceChildren(
      h(
        "summary",
        {},
        `${invalid.length} invalid, ${required.length} required and ` +
          `${desirable.length} desirable field(s) to fill`,
      ),
      h(
        "ul",
        {},
        [...invalid, ...required, ...desirable].map((issue) =>
          h(
            "li",
            { class: `be-${issue.level}` },
            h("code", { text: issue.path }),
            ` ${issue.message}`,
          ),
        ),
      ),
    );
  }

  function drawStatus() {
    const value = model.get("score") || 0;
    score.textContent = `${value}/100`;
    bar.value = value;
    const ok = model.get("ok");
    status.textContent = ok ? "complete" : "incomplete";
    status.className = `be-status ${ok ? "be-ok" : "be-not-ok"}`;
    const when = model.get("saved_at");
    const where = model.get("autosave_path");
    saved.textContent = where
      ? when
        ? `autosaved ${new Date(when).toLocaleTimeString()}`
        : "not saved yet"
      : "autosave off";
    saved.title = where || "";
    const note = model.get("message") || {};
    message.textContent = note.text || "";
    message.className = `be-message be-message-${note.level || "info"}`;
    message.hidden = !note.text;
  }

  // -- from Python ------------------------------------------------------------------------

  model.on("change:values", () => {
    const incoming = model.get("values") || {};
    const text = stable(incoming);
    if (text === stable(values)) return; // our own change coming back
    values = clone(incoming);
    sent = text;
    if (timer !== null) clearTimeout(timer);
    timer = null;
    draw();
  });
  model.on("change:issues", showIssues);
  for (const name of ["score", "ok", "saved_at", "message", "autosave_path"]) {
    model.on(`change:${name}`, drawStatus);
  }
  model.on("msg:custom", (msg) => {
    if (!msg || msg.type !== "suggestions") return;
    const lookup = lookups[msg.path];
    if (!lookup || (msg.seq !== undefined && msg.seq !== lookup.seq)) return; // stale
    lookup.show(msg.terms || []);
  });

  draw();
  drawStatus();
  return () => {
    flush();
  };
}

export default { render };
