// bioshare Viewer: draws the frames the kernel renders and sends it view requests.
// The message protocol is described in bioshare/widgets/viewer.py. Plain ES2020, no imports.

const DEBOUNCE_MS = 30;
const WHEEL_ZOOM = 1.0015; // zoom factor per wheel deltaY pixel
const MOST_ZOOMED_IN = 1 / 32; // level-0 pixels per screen pixel
const MOST_ZOOMED_OUT = 4; // times the whole-image view
const KEEP_REQUESTS = 5000;
const IN_FLIGHT = 1; // view requests on their way at once; later changes wait, merged

// Shared by every viewer on the page: request ids are unique across them, and a benchmark
// reads when each request was sent and when its frame was drawn.
function registry() {
  if (!globalThis.__bioshareViewer) {
    globalThis.__bioshareViewer = { nextRequest: 1, requests: {}, framesDrawn: 0, queued: 0 };
  }
  return globalThis.__bioshareViewer;
}

function node(tag, props = {}, children = []) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "testid") el.dataset.testid = value;
    else el.setAttribute(key, value);
  }
  el.append(...children);
  return el;
}

function formatNumber(value) {
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(3);
  return String(Number(value.toPrecision(5)));
}

function withUnit(value, symbol) {
  return symbol ? `${formatNumber(value)} ${symbol}` : formatNumber(value);
}

// Grow a viewport about its centre to the canvas aspect ratio (as the kernel does).
function fitViewport([x0, y0, x1, y1], [width, height]) {
  const perPixel = Math.max((x1 - x0) / width, (y1 - y0) / height);
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  const hw = (perPixel * width) / 2;
  const hh = (perPixel * height) / 2;
  return [cx - hw, cy - hh, cx + hw, cy + hh];
}

// Two view requests' fields as one: later values win; channel edits merge by name.
function mergePatch(older, newer) {
  const merged = { ...older, ...newer };
  if (older.position && newer.position) merged.position = { ...older.position, ...newer.position };
  if (older.channels && newer.channels) {
    const byName = new Map(older.channels.map((c) => [c.name, { ...c }]));
    for (const c of newer.channels) byName.set(c.name, { ...byName.get(c.name), ...c });
    merged.channels = [...byName.values()];
  }
  return merged;
}

class ViewerView {
  constructor(model, el) {
    this.model = model;
    this.el = el;
    this.listeners = [];
    this.viewport = model.get("viewport").slice();
    this.position = { ...model.get("position") };
    this.channels = model.get("channels").map((c) => ({ ...c }));
    this.labelsVisible = model.get("labels_visible");
    this.latest = 0; // last request this view sent
    this.answered = 0; // highest request answered by a frame or an error
    this.pending = {}; // "position", "channels:<name>:<field>"... -> request carrying it
    this.sent = []; // requests on their way (not yet answered)
    this.queued = null; // { patch, keys, inputAt }: changes waiting for a request to finish
    this.shownFrame = 0; // the frame number drawn last
    this.transportMs = null; // the last raw frame's time in transit, told to the kernel
    this.frame = null; // { viewport, scalebar } of the last frame drawn
    this.probe = { latest: 0, busy: false, next: null };
    this.timer = null;
    this.drag = null;
    this.build();
    this.listen();
    this.request({});
  }

  // -- DOM

  build() {
    const [width, height] = this.model.get("canvas");
    this.canvas = node("canvas", { class: "bsv-canvas", testid: "viewer-canvas", width, height });
    this.canvas.dataset.frameId = "0";
    this.frameCanvas = document.createElement("canvas");
    this.barLine = node("div", { class: "bsv-scalebar-line" });
    this.barLabel = node("span", { class: "bsv-scalebar-label" });
    this.scalebar = node("div", { class: "bsv-scalebar", testid: "viewer-scalebar" }, [
      this.barLabel,
      this.barLine,
    ]);
    this.spinner = node("div", { class: "bsv-loading", testid: "viewer-loading" });
    this.stage = node("div", { class: "bsv-stage" }, [this.canvas, this.scalebar, this.spinner]);
    this.stage.style.width = `${width}px`;
    this.stage.style.height = `${height}px`;
    this.toolbar = node("div", { class: "bsv-toolbar" });
    this.sliders = node("div", { class: "bsv-sliders" });
    this.readout = node("span", { class: "bsv-readout", testid: "viewer-readout" });
    this.statusLine = node("span", { class: "bsv-status", testid: "viewer-status" });
    const footer = node("div", { class: "bsv-footer" }, [this.readout, this.statusLine]);
    this.root = node("div", { class: "bioshare-viewer" }, [
      this.toolbar,
      this.sliders,
      this.stage,
      footer,
    ]);
    this.el.append(this.root);
    this.buildToolbar();
    this.buildSliders();
    this.statusLine.textContent = this.model.get("status");
    this.updateLoading();
  }

  buildToolbar() {
    this.toolbar.replaceChildren();
    this.channelInputs = {};
    for (const channel of this.channels) this.toolbar.append(this.channelControl(channel));
    this.labelsBox = null;
    if (this.model.get("label_names").length) {
      this.labelsBox = node("input", { type: "checkbox", testid: "viewer-labels" });
      this.labelsBox.checked = this.labelsVisible;
      this.labelsBox.addEventListener("change", () => {
        this.labelsVisible = this.labelsBox.checked;
        this.request({ labels_visible: this.labelsVisible }, ["labels_visible"]);
      });
      this.toolbar.append(node("label", { class: "bsv-labels" }, [this.labelsBox, "labels"]));
    }
  }

  channelControl(channel) {
    const name = channel.name;
    const box = node("input", { type: "checkbox", testid: `viewer-channel-${name}` });
    const swatch = node("span", { class: "bsv-swatch" });
    const lo = node("input", { type: "number", class: "bsv-limit", step: "any", title: "min" });
    const hi = node("input", { type: "number", class: "bsv-limit", step: "any", title: "max" });
    lo.dataset.testid = `viewer-contrast-${name}-min`;
    hi.dataset.testid = `viewer-contrast-${name}-max`;
    const auto = node("button", {
      class: "bsv-auto",
      type: "button",
      title: "automatic contrast",
      testid: `viewer-auto-${name}`,
      text: "auto",
    });
    box.addEventListener("change", () => this.editChannel(name, { visible: box.checked }));
    const onLimit = () => {
      const contrast = [Number(lo.value), Number(hi.value)];
      if (lo.value !== "" && hi.value !== "" && contrast[1] > contrast[0]) {
        this.editChannel(name, { contrast });
      } else {
        this.showChannel(this.channels.find((c) => c.name === name));
      }
    };
    lo.addEventListener("change", onLimit);
    hi.addEventListener("change", onLimit);
    auto.addEventListener("click", () => this.editChannel(name, { contrast: null }));
    this.channelInputs[name] = { box, swatch, lo, hi };
    this.showChannel(channel);
    const label = node("label", { class: "bsv-channel-name" }, [box, swatch, name]);
    return node("div", { class: "bsv-channel" }, [label, lo, "–", hi, auto]);
  }

  showChannel(channel) {
    const inputs = this.channelInputs[channel.name];
    inputs.box.checked = channel.visible;
    inputs.swatch.style.background = channel.color;
    const [lo, hi] = channel.contrast || ["", ""];
    // Never overwrite what the user is typing.
    if (document.activeElement !== inputs.lo) inputs.lo.value = lo === "" ? "" : formatNumber(lo);
    if (document.activeElement !== inputs.hi) inputs.hi.value = hi === "" ? "" : formatNumber(hi);
    if (channel.range) {
      for (const input of [inputs.lo, inputs.hi]) {
        input.min = String(channel.range[0]);
        input.max = String(channel.range[1]);
      }
    }
  }

  buildSliders() {
    this.sliders.replaceChildren();
    this.sliderInputs = {};
    for (const dim of this.model.get("dims")) {
      const input = node("input", {
        type: "range",
        min: "0",
        max: String(dim.size - 1),
        step: "1",
        testid: `viewer-slider-${dim.name}`,
      });
      input.value = String(this.position[dim.name] ?? 0);
      const value = node("span", { class: "bsv-value", testid: `viewer-value-${dim.name}` });
      input.addEventListener("input", () => {
        this.position = { ...this.position, [dim.name]: Number(input.value) };
        this.showPosition();
        this.request({ position: this.position }, ["position"]);
      });
      this.sliderInputs[dim.name] = { input, value, dim };
      const axis = node("span", { class: "bsv-axis", text: dim.name });
      this.sliders.append(node("div", { class: "bsv-slider" }, [axis, input, value]));
    }
    this.showPosition();
  }

  showPosition() {
    for (const [name, { input, value, dim }] of Object.entries(this.sliderInputs)) {
      const index = this.position[name] ?? 0;
      input.value = String(index);
      value.textContent = `${withUnit(dim.values[index], dim.symbol)} (${index + 1}/${dim.size})`;
    }
  }

  // -- requests and messages

  // Ask the kernel for a frame. With a request already on its way the change waits, merged
  // with any others, and goes when that request is answered: however fast a slider moves,
  // the kernel gets one request at a time and the last position always follows.
  request(patch, keys = []) {
    const reg = registry();
    if (this.queued === null) reg.queued += 1;
    const queued = this.queued ?? { patch: {}, keys: [] };
    this.queued = { patch: mergePatch(queued.patch, patch), keys: [...queued.keys, ...keys] };
    this.queued.inputAt = performance.now();
    for (const key of keys) this.pending[key] = Infinity; // not sent yet: the local value wins
    if (this.sent.length < IN_FLIGHT) this.flush();
    this.updateLoading();
  }

  flush() {
    if (this.queued === null) return;
    const { patch, keys, inputAt } = this.queued;
    this.queued = null;
    const reg = registry();
    reg.queued -= 1;
    const id = reg.nextRequest++;
    reg.requests[id] = { inputAt, sentAt: performance.now(), drawnAt: null, frame: null };
    delete reg.requests[id - KEEP_REQUESTS];
    this.latest = id;
    this.sent.push(id);
    for (const key of keys) this.pending[key] = id;
    const transport = this.transportMs === null ? {} : { transport_ms: this.transportMs };
    this.transportMs = null;
    this.model.send({ type: "view", request: id, ...patch, ...transport });
  }

  isPending(key) {
    const id = this.pending[key];
    return id !== undefined && id > this.answered;
  }

  editChannel(name, fields) {
    this.channels = this.channels.map((c) => (c.name === name ? { ...c, ...fields } : c));
    this.showChannel(this.channels.find((c) => c.name === name));
    const keys = Object.keys(fields).map((field) => `channels:${name}:${field}`);
    this.request({ channels: [{ name, ...fields }] }, keys);
  }

  sendViewportSoon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.sendViewport(), DEBOUNCE_MS);
  }

  sendViewport() {
    clearTimeout(this.timer);
    this.timer = null;
    this.request({ viewport: this.viewport }, ["viewport"]);
  }

  on(target, event, callback) {
    target.on(event, callback);
    this.listeners.push([target, event, callback]);
  }

  listen() {
    this.on(this.model, "msg:custom", (msg, buffers) => this.onMessage(msg, buffers));
    this.on(this.model, "change:channels", () => this.onChannels());
    this.on(this.model, "change:dims", () => this.buildSliders());
    this.on(this.model, "change:label_names", () => this.buildToolbar());
    this.on(this.model, "change:position", () => this.syncPosition());
    this.on(this.model, "change:viewport", () => this.syncViewport());
    this.on(this.model, "change:labels_visible", () => this.syncLabels());
    this.on(this.model, "change:canvas", () => this.onCanvas());
    this.on(this.model, "change:loading", () => this.updateLoading());
    this.on(this.model, "change:status", () => {
      this.statusLine.textContent = this.model.get("status");
    });
    const canvas = this.canvas;
    canvas.addEventListener("wheel", (ev) => this.onWheel(ev), { passive: false });
    canvas.addEventListener("pointerdown", (ev) => this.onPointerDown(ev));
    canvas.addEventListener("pointermove", (ev) => this.onPointerMove(ev));
    canvas.addEventListener("pointerup", (ev) => this.onPointerUp(ev));
    canvas.addEventListener("pointercancel", (ev) => this.onPointerUp(ev));
    canvas.addEventListener("pointerleave", () => {
      this.readout.textContent = "";
    });
    canvas.addEventListener("dblclick", () => this.resetView());
  }

  // The kernel echoes every change it applies, in order. While a request of ours is on its
  // way, the local value wins (no flicker from older echoes); once answered, the kernel's.
  syncPosition() {
    if (this.isPending("position")) return;
    this.position = { ...this.model.get("position") };
    this.showPosition();
  }

  syncViewport() {
    if (this.isPending("viewport") || this.drag || this.timer !== null) return;
    this.viewport = this.model.get("viewport").slice();
    this.draw();
  }

  syncLabels() {
    if (this.isPending("labels_visible")) return;
    this.labelsVisible = this.model.get("labels_visible");
    if (this.labelsBox) this.labelsBox.checked = this.labelsVisible;
  }

  onChannels() {
    const incoming = this.model.get("channels");
    const names = incoming.map((c) => c.name).join("\n");
    const rebuild = names !== this.channels.map((c) => c.name).join("\n");
    // Keep local edits whose request the kernel has not answered yet.
    this.channels = incoming.map((channel) => {
      const local = this.channels.find((c) => c.name === channel.name);
      const merged = { ...channel };
      for (const field of ["visible", "contrast"]) {
        if (local && this.isPending(`channels:${channel.name}:${field}`)) {
          merged[field] = local[field];
        }
      }
      return merged;
    });
    if (rebuild) this.buildToolbar();
    else for (const channel of this.channels) this.showChannel(channel);
  }

  onCanvas() {
    const [width, height] = this.model.get("canvas");
    this.canvas.width = width;
    this.canvas.height = height;
    this.stage.style.width = `${width}px`;
    this.stage.style.height = `${height}px`;
    this.draw();
  }

  onMessage(msg, buffers) {
    if (msg.type === "frame") this.onFrame(msg, buffers[0]);
    else if (msg.type === "probe") this.onProbe(msg);
    else if (msg.type === "error") this.onError(msg);
  }

  onFrame(msg, buffer) {
    if (msg.encoding === "jpeg") {
      const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      createImageBitmap(new Blob([bytes], { type: "image/jpeg" }))
        .then((bitmap) => this.showFrame(msg, bitmap))
        .catch((error) => this.onError({ request: msg.request, message: String(error) }));
      return;
    }
    const bytes = new Uint8ClampedArray(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    this.showFrame(msg, new ImageData(bytes.slice(), msg.width));
  }

  // Draw a decoded frame (ImageData for raw RGBA, an ImageBitmap for JPEG).
  showFrame(msg, picture) {
    if (msg.frame < this.shownFrame) return this.answer(msg.request); // a later one is shown
    this.shownFrame = msg.frame;
    this.frameCanvas.width = msg.width;
    this.frameCanvas.height = msg.height;
    const ctx = this.frameCanvas.getContext("2d");
    if (picture instanceof ImageData) {
      ctx.putImageData(picture, 0, 0);
    } else {
      // JPEG has no alpha: keep only the rectangle that shows data.
      const [x0, y0, x1, y1] = msg.inside;
      ctx.drawImage(picture, 0, 0);
      picture.close();
      ctx.globalCompositeOperation = "destination-in";
      ctx.fillRect(x0, y0, x1 - x0, y1 - y0);
      ctx.globalCompositeOperation = "source-over";
    }
    this.frame = { viewport: msg.viewport, scalebar: msg.scalebar, level: msg.level };
    this.draw();
    const drawnAt = performance.now();
    const data = this.canvas.dataset;
    data.frameId = String(msg.frame);
    data.request = String(msg.request ?? "");
    data.drawnAt = String(drawnAt);
    data.level = String(msg.level);
    data.encoding = msg.encoding;
    const reg = registry();
    reg.framesDrawn += 1;
    const record = msg.request !== null ? reg.requests[msg.request] : undefined;
    if (record) {
      record.drawnAt = drawnAt;
      record.frame = msg.frame;
      record.renderMs = msg.elapsed_ms;
      record.waitedMs = msg.waited_ms;
      if (msg.encoding === "raw" && this.sent.includes(msg.request)) {
        // For the kernel's "auto" encoding: how long the frame took beyond its own work.
        this.transportMs = drawnAt - record.sentAt - msg.waited_ms - msg.elapsed_ms;
      }
    }
    this.answer(msg.request);
  }

  onError(msg) {
    this.statusLine.textContent = msg.message;
    this.answer(msg.request);
  }

  answer(request) {
    if (request !== null) {
      // The kernel answers the newest request it holds (of any view of this widget; ids
      // are shared): every older one is done.
      this.sent = this.sent.filter((id) => id > request);
      if (this.sent.length < IN_FLIGHT) this.flush();
    }
    if (request !== null && request <= this.latest) {
      this.answered = Math.max(this.answered, request);
      this.syncPosition();
      this.syncViewport();
      this.syncLabels();
      this.onChannels();
    }
    this.updateLoading();
  }

  updateLoading() {
    const loading =
      this.latest > this.answered || this.queued !== null || this.model.get("loading");
    this.spinner.hidden = !loading;
    this.spinner.dataset.state = loading ? "loading" : "idle";
  }

  // -- drawing

  draw() {
    const ctx = this.canvas.getContext("2d");
    const { width, height } = this.canvas;
    ctx.clearRect(0, 0, width, height);
    if (!this.frame) return;
    // The last frame, moved and scaled to the current viewport until the next one arrives.
    const [fx0, fy0, fx1, fy1] = this.frame.viewport;
    const [vx0, vy0, vx1, vy1] = this.viewport;
    const sx = width / (vx1 - vx0);
    const sy = height / (vy1 - vy0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(
      this.frameCanvas,
      (fx0 - vx0) * sx,
      (fy0 - vy0) * sy,
      (fx1 - fx0) * sx,
      (fy1 - fy0) * sy,
    );
    this.drawScalebar((fx1 - fx0) / (vx1 - vx0));
  }

  drawScalebar(zoom) {
    const { length, label } = this.frame.scalebar;
    const shown = length * zoom;
    this.scalebar.hidden = !label || shown < 1;
    this.barLine.style.width = `${shown}px`;
    this.barLabel.textContent = label;
  }

  // -- zoom, pan and readout

  toImage(ev) {
    const rect = this.canvas.getBoundingClientRect();
    const px = ((ev.clientX - rect.left) / rect.width) * this.canvas.width;
    const py = ((ev.clientY - rect.top) / rect.height) * this.canvas.height;
    const [x0, y0, x1, y1] = this.viewport;
    return [
      x0 + (px * (x1 - x0)) / this.canvas.width,
      y0 + (py * (y1 - y0)) / this.canvas.height,
    ];
  }

  wholeImage() {
    const [width, height] = this.model.get("image_size");
    return fitViewport([0, 0, width, height], [this.canvas.width, this.canvas.height]);
  }

  onWheel(ev) {
    ev.preventDefault();
    const [u, v] = this.toImage(ev);
    const [x0, y0, x1, y1] = this.viewport;
    const whole = this.wholeImage();
    const lineScale = ev.deltaMode === 1 ? 40 : 1;
    const minWidth = MOST_ZOOMED_IN * this.canvas.width;
    const maxWidth = MOST_ZOOMED_OUT * (whole[2] - whole[0]);
    const width = (x1 - x0) * WHEEL_ZOOM ** (ev.deltaY * lineScale);
    const k = Math.min(maxWidth, Math.max(minWidth, width)) / (x1 - x0);
    this.viewport = [u - (u - x0) * k, v - (v - y0) * k, u + (x1 - u) * k, v + (y1 - v) * k];
    this.draw();
    this.sendViewportSoon();
  }

  onPointerDown(ev) {
    if (ev.button !== 0) return;
    this.canvas.setPointerCapture(ev.pointerId);
    this.drag = { x: ev.clientX, y: ev.clientY, viewport: this.viewport.slice() };
  }

  onPointerMove(ev) {
    if (!this.drag) {
      this.showReadout(ev);
      return;
    }
    const rect = this.canvas.getBoundingClientRect();
    const [x0, y0, x1, y1] = this.drag.viewport;
    const dx = ((ev.clientX - this.drag.x) / rect.width) * (x1 - x0);
    const dy = ((ev.clientY - this.drag.y) / rect.height) * (y1 - y0);
    this.viewport = [x0 - dx, y0 - dy, x1 - dx, y1 - dy];
    this.draw();
    this.sendViewportSoon();
  }

  onPointerUp(ev) {
    if (!this.drag) return;
    this.drag = null;
    if (this.canvas.hasPointerCapture(ev.pointerId)) {
      this.canvas.releasePointerCapture(ev.pointerId);
    }
    if (this.timer !== null) this.sendViewport();
  }

  resetView() {
    this.viewport = this.wholeImage();
    this.draw();
    this.sendViewport();
  }

  showReadout(ev) {
    const [u, v] = this.toImage(ev);
    this.cursor = [u, v];
    this.readout.textContent = this.coordinateText(u, v);
    this.sendProbe(u, v);
  }

  coordinateText(u, v) {
    const scale = this.model.get("scale");
    const [width, height] = this.model.get("image_size");
    if (u < 0 || v < 0 || u >= width || v >= height) return "";
    const ix = Math.floor(u);
    const iy = Math.floor(v);
    const parts = [
      `x ${withUnit(scale.x0 + ix * scale.x, scale.symbol)}`,
      `y ${withUnit(scale.y0 + iy * scale.y, scale.symbol)}`,
    ];
    if (!scale.symbol) parts.splice(0, 2, `x ${ix}`, `y ${iy}`);
    for (const dim of this.model.get("dims")) {
      const index = this.position[dim.name] ?? 0;
      parts.push(`${dim.name} ${withUnit(dim.values[index], dim.symbol)}`);
    }
    return parts.join("  ");
  }

  sendProbe(u, v) {
    const probe = this.probe;
    if (probe.busy) {
      probe.next = [u, v];
      return;
    }
    probe.busy = true;
    // Unique on the page: every view of this widget receives every reply.
    const reg = registry();
    reg.nextProbe = (reg.nextProbe ?? 0) + 1;
    probe.latest = reg.nextProbe;
    this.model.send({ type: "probe", request: probe.latest, x: u, y: v });
  }

  onProbe(msg) {
    const probe = this.probe;
    if (msg.request !== probe.latest) return; // another view of this widget asked
    probe.busy = false;
    const text = this.coordinateText(msg.x, msg.y);
    if (text && this.cursor && this.cursor[0] === msg.x && this.cursor[1] === msg.y) {
      const values = Object.entries({ ...msg.values, ...msg.labels })
        .filter(([, value]) => value !== null)
        .map(([name, value]) => `${name} ${formatNumber(value)}`);
      this.readout.textContent = [text, ...values].join("  ");
    }
    if (probe.next) {
      const [u, v] = probe.next;
      probe.next = null;
      this.sendProbe(u, v);
    }
  }

  destroy() {
    clearTimeout(this.timer);
    if (this.queued !== null) registry().queued -= 1;
    this.queued = null;
    for (const [target, event, callback] of this.listeners) target.off(event, callback);
    this.listeners = [];
  }
}

function render({ model, el }) {
  const view = new ViewerView(model, el);
  return () => view.destroy();
}

export default { render };
