// VaeWeb's browser-side drawing: the server sends raw 8-bit pixels, the browser lays them out on a canvas.
window.vaeweb = {
  /**
   * Resolves once plotly.js is loaded (App.razor starts loading it with the page). Charts render only then: a chart
   * created earlier queues its first plot in Plotly.Blazor, and when the user has moved on by the time the script
   * arrives, that call throws for the missing element and drops every call queued after it.
   */
  async whenPlotly() {
    try { await window.vaewebPlotly; } catch { /* Plotly.Blazor loads it itself then */ }
  },

  /**
   * Draws a grid of rows x cols grayscale images of h x w pixels onto a canvas.
   * pixels: Uint8Array (or array) in image-major order, image i = row * cols + col.
   * scale: screen pixels per image pixel; gap: screen pixels between images.
   */
  drawGrid(canvas, rows, cols, h, w, pixels, scale = 2, gap = 2, channels = 1) {
    if (!canvas) return;
    const bytes = pixels instanceof Uint8Array ? pixels : new Uint8Array(pixels);
    const cell = w * scale + gap, cellH = h * scale + gap;
    canvas.width = cols * cell + gap;
    canvas.height = rows * cellH + gap;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    const image = ctx.createImageData(w, h);
    const tile = document.createElement("canvas");
    tile.width = w; tile.height = h;
    const tileCtx = tile.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    const plane = h * w;
    for (let i = 0; i < rows * cols; i++) {
      const offset = i * plane * channels;
      for (let p = 0; p < plane; p++) {
        // Grey: one byte per pixel. Colour: channel planes (R, then G, then B), as the server's tensors are laid out.
        const r = bytes[offset + p];
        image.data[4 * p] = r;
        image.data[4 * p + 1] = channels === 3 ? bytes[offset + plane + p] : r;
        image.data[4 * p + 2] = channels === 3 ? bytes[offset + 2 * plane + p] : r;
        image.data[4 * p + 3] = 255;
      }
      tileCtx.putImageData(image, 0, 0);
      const r = Math.floor(i / cols), c = i % cols;
      ctx.drawImage(tile, gap + c * cell, gap + r * cellH, w * scale, h * scale);
    }
    canvas.dataset.drawn = String(rows * cols);
  },

  /** Float intensities in [0, 1] → bytes, for drawGrid. */
  toBytes(values) {
    const bytes = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) bytes[i] = Math.max(0, Math.min(255, Math.round(values[i] * 255)));
    return bytes;
  },

  /**
   * A drawing pad: white ink on black, mouse, pen or touch. When a stroke ends, the drawing goes straight to
   * POST /api/runs/{runId}/classify (no Blazor round trip: this is the latency that matters) and the answer is drawn:
   * class probabilities on the Plotly chart, what the model saw (28x28) and its reconstruction.
   * ids: { bars, input, reconstruction, predicted, latency, error }.
   */
  attachDrawPad(canvas, runId, ids) {
    if (!canvas || canvas.dataset.attached) return;
    canvas.dataset.attached = "1";
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, canvas.width, canvas.height); };
    clear();
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = Math.max(8, canvas.width / 14);
    ctx.lineCap = ctx.lineJoin = "round";
    let drawing = false, last = null;
    const at = e => { const r = canvas.getBoundingClientRect(); return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height]; };
    canvas.addEventListener("pointerdown", e => { drawing = true; last = at(e); canvas.setPointerCapture(e.pointerId); e.preventDefault(); });
    canvas.addEventListener("pointermove", e => {
      if (!drawing) return;
      const p = at(e);
      ctx.beginPath(); ctx.moveTo(last[0], last[1]); ctx.lineTo(p[0], p[1]); ctx.stroke();
      last = p;
    });
    const end = async () => { if (!drawing) return; drawing = false; await vaeweb.classifyPad(canvas, runId, ids); };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    canvas.vaewebClear = () => { clear(); vaeweb.lastDrawing = null; };
  },

  clearPad(canvas) { canvas?.vaewebClear?.(); },
  clearPadById(id) { vaeweb.clearPad(document.getElementById(id)); },

  /** The explore page's pad: element ids are fixed there, the chart's carries the run id. */
  attachDrawPadById(id, runId) {
    vaeweb.attachDrawPad(document.getElementById(id), runId, {
      bars: `probabilities-${runId}`, input: "draw-input", reconstruction: "draw-reconstruction",
      predicted: "draw-predicted", latency: "draw-latency", error: "draw-error",
    });
  },

  async classifyPad(canvas, runId, ids) {
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const pixels = new Array(canvas.width * canvas.height);
    for (let i = 0; i < pixels.length; i++) pixels[i] = Math.round(data[4 * i] / 2.55) / 100;
    const started = performance.now();
    const response = await fetch(`/api/runs/${runId}/classify`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ width: canvas.width, height: canvas.height, pixels }),
    });
    const roundTrip = performance.now() - started;
    const error = document.getElementById(ids.error);
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      if (error) error.textContent = problem.detail || `The server answered ${response.status}.`;
      return;
    }
    if (error) error.textContent = "";
    const result = await response.json();
    // The answer in text first: it must show even if a chart below cannot be drawn.
    const predicted = document.getElementById(ids.predicted);
    if (predicted) {
      predicted.textContent = `${result.predicted} (${(100 * result.probabilities[result.predicted]).toFixed(1)}%)`;
      predicted.dataset.predicted = String(result.predicted);
      predicted.dataset.probabilitySum = String(result.probabilities.reduce((a, b) => a + b, 0));
    }
    const latency = document.getElementById(ids.latency);
    if (latency) latency.textContent = `round trip ${roundTrip.toFixed(0)} ms · model ${result.serverMilliseconds.toFixed(1)} ms on the server`;
    vaeweb.lastDrawing = vaeweb.toBytes(result.input);
    vaeweb.drawGrid(document.getElementById(ids.input), 1, 1, 28, 28, vaeweb.lastDrawing, 4);
    vaeweb.drawGrid(document.getElementById(ids.reconstruction), 1, 1, 28, 28, vaeweb.toBytes(result.reconstruction), 4);
    vaeweb.drawBars(document.getElementById(ids.bars), result.probabilities, error);
  },

  /**
   * The ten class probabilities on the Plotly bar chart. Plotly.react draws whether or not the chart's first plot has
   * happened yet (the component's newPlot waits for plotly.js to load), keeping the layout the component gave it.
   */
  drawBars(bars, probabilities, error) {
    if (!bars || !window.Plotly) return;
    try {
      const digits = probabilities.map((_, i) => i);
      window.Plotly.react(bars, [{ type: "bar", x: digits, y: probabilities }], bars.layout ?? { height: 340 }, { responsive: true, displaylogo: false });
    } catch (e) {
      if (error) error.textContent = `The probability chart could not be drawn (${e.message}); the prediction above is unaffected.`;
    }
  },

  /** The last drawing as the model saw it (784 bytes), for restyling or completing it; null before any. */
  getLastDrawing() { return vaeweb.lastDrawing ? Array.from(vaeweb.lastDrawing) : null; },

  /**
   * An eraser over a 28x28 digit drawn at 8x: painted cells become the region to complete (shown red).
   * pixels: the digit's 784 bytes. getMask(canvas) returns 784 values, 1 where erased.
   */
  attachEraser(canvas, pixels) {
    if (typeof canvas === "string") canvas = document.getElementById(canvas);
    if (!canvas) return;
    const scale = canvas.width / 28, digit = Uint8Array.from(pixels);
    const mask = new Uint8Array(784);
    const ctx = canvas.getContext("2d");
    const draw = () => {
      for (let i = 0; i < 784; i++) {
        const v = digit[i];
        ctx.fillStyle = mask[i] ? "rgb(160, 30, 30)" : `rgb(${v}, ${v}, ${v})`;
        ctx.fillRect((i % 28) * scale, Math.floor(i / 28) * scale, scale, scale);
      }
    };
    let erasing = false;
    const paint = e => {
      const r = canvas.getBoundingClientRect();
      const cx = (e.clientX - r.left) * 28 / r.width, cy = (e.clientY - r.top) * 28 / r.height;
      for (let y = Math.floor(cy - 1.5); y <= cy + 1.5; y++)
        for (let x = Math.floor(cx - 1.5); x <= cx + 1.5; x++)
          if (x >= 0 && x < 28 && y >= 0 && y < 28) mask[y * 28 + x] = 1;
      draw();
    };
    canvas.onpointerdown = e => { erasing = true; canvas.setPointerCapture(e.pointerId); paint(e); e.preventDefault(); };
    canvas.onpointermove = e => { if (erasing) paint(e); };
    canvas.onpointerup = canvas.onpointercancel = () => { erasing = false; };
    canvas.vaewebMask = mask;
    canvas.style.touchAction = "none";
    draw();
  },

  getMaskById(id) { const m = document.getElementById(id)?.vaewebMask; return m ? Array.from(m) : null; },
};
