// A drawing in steps (DRAW), played in the browser. The server sends numbers only: every step's pixels as bytes
// (base64 in JSON), and per step and image where it wrote and, for reconstructions, where it read, as boxes
// (left, top, right, bottom in image pixels). Frames are laid out by vaeweb.drawGrid, the grids' own drawing, so the
// last frame of the samples is their grid pixel for pixel; the windows are drawn over them.
(() => {
  const gap = 2, write = "#ff3b30", read = "#34c759";

  /** Base64 (from JSON) or a byte array (from Blazor) → Uint8Array; a plain loop: the frames of T = 64 are 5 MB. */
  function bytes(v) {
    if (v == null) return null;
    if (typeof v !== "string") return v instanceof Uint8Array ? v : new Uint8Array(v);
    if (Uint8Array.fromBase64) return Uint8Array.fromBase64(v);
    const text = atob(v), out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }

  /** One image's box, clamped to its cell (a window may lie partly off the image), in canvas pixels. */
  function strokeBox(ctx, boxes, index, left, top, a, scale, colour) {
    const clamp = (v, max) => Math.max(0, Math.min(max, v));
    const [l, t, r, b] = [0, 1, 2, 3].map(k => boxes[4 * index + k]);
    const x0 = left + clamp(l, a.width) * scale, y0 = top + clamp(t, a.height) * scale;
    const x1 = left + clamp(r, a.width) * scale, y1 = top + clamp(b, a.height) * scale;
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1;
    ctx.strokeRect(Math.round(x0) + 0.5, Math.round(y0) + 0.5, Math.max(1, Math.round(x1 - x0) - 1), Math.max(1, Math.round(y1 - y0) - 1));
    return [x0, y0, x1, y1].map(Math.round);
  }

  /** Frame t onto the canvas: the images (under the inputs, for reconstructions), then the windows if shown. */
  function draw(player, t) {
    const { a, canvas, scale } = player, size = a.height * a.width, n = a.rows * a.cols;
    const frame = a.frames.subarray(t * n * size, (t + 1) * n * size);
    let rows = a.rows, pixels = frame;
    if (a.inputs) {                                     // each row of inputs above the same row being drawn
      rows = 2 * a.rows;
      pixels = new Uint8Array(2 * n * size);
      for (let r = 0; r < a.rows; r++) {
        pixels.set(a.inputs.subarray(r * a.cols * size, (r + 1) * a.cols * size), 2 * r * a.cols * size);
        pixels.set(frame.subarray(r * a.cols * size, (r + 1) * a.cols * size), (2 * r + 1) * a.cols * size);
      }
    }
    vaeweb.drawGrid(canvas, rows, a.cols, a.height, a.width, pixels, scale, gap);
    const cellW = a.width * scale + gap, cellH = a.height * scale + gap;
    const ctx = canvas.getContext("2d");
    let first = null;
    if (player.windows.checked) {
      for (let i = 0; i < n; i++) {
        const r = Math.floor(i / a.cols), c = i % a.cols, left = gap + c * cellW;
        const canvasRow = a.inputs ? 2 * r + 1 : r;
        if (a.writes) {
          const box = strokeBox(ctx, a.writes, t * n + i, left, gap + canvasRow * cellH, a, scale, write);
          if (i === 0) first = box;
        }
        if (a.reads) strokeBox(ctx, a.reads, t * n + i, left, gap + 2 * r * cellH, a, scale, read);
      }
    }
    // What a test (or a curious person) can read off the page: the step shown and the first image's write box.
    player.root.dataset.step = String(t + 1);
    player.root.dataset.writeBox = first ? first.join(",") : "";
    player.slider.value = String(t + 1);
    player.label.textContent = `step ${t + 1} of ${a.steps}`;
  }

  function schedule(player) {
    clearTimeout(player.timer);
    if (!player.playing) return;
    const delay = 1000 / Number(player.speed.value);
    const last = player.t === player.a.steps - 1;
    // The finished drawing stays a moment before the next round starts.
    player.timer = setTimeout(() => { player.t = last ? 0 : player.t + 1; draw(player, player.t); schedule(player); }, last ? Math.max(1000, delay) : delay);
  }

  function setPlaying(player, playing) {
    player.playing = playing;
    player.root.dataset.playing = playing ? "1" : "0";
    player.playButton.style.display = playing ? "none" : "";
    player.pauseButton.style.display = playing ? "" : "none";
    schedule(player);
  }

  /** Plays source (a URL to fetch, or the animation itself) in the player element root, replacing what it played. */
  async function play(root, source) {
    if (!root) return;
    root.vaewebRequested = source;                      // a later call wins over an earlier fetch still under way
    let data = source;
    if (typeof source === "string") {
      const response = await fetch(source);
      if (root.vaewebRequested !== source) return;
      if (!response.ok) {
        const problem = await response.json().catch(() => ({}));
        root.querySelector("[data-role=title]").textContent = problem.detail || `The animation could not be loaded (${response.status}).`;
        return;
      }
      data = await response.json();
      if (root.vaewebRequested !== source) return;
    }
    const a = { ...(data.animation ?? data) };
    a.frames = bytes(a.frames);
    a.inputs = bytes(a.inputs);
    const q = role => root.querySelector(`[data-role=${role}]`);
    const previous = root.vaewebPlayer;
    if (previous) clearTimeout(previous.timer);
    const player = {
      root, a, t: 0, timer: 0, playing: true,
      canvas: q("frames"), slider: q("step"), label: q("step-label"), speed: q("speed"), windows: q("windows"),
      playButton: q("play"), pauseButton: q("pause"), scale: Number(root.dataset.scale || 2),
    };
    root.vaewebPlayer = player;
    if (data.title) q("title").textContent = data.title;
    q("legend").textContent = !a.writes ? "" : a.reads
      ? "Red: where each step wrote on the canvas. Green, on the digit above it: where that step read."
      : "Red: where each step wrote on the canvas.";
    player.windows.closest("label").style.display = a.writes ? "" : "none";
    player.slider.max = String(a.steps);
    if (!previous) {                                    // the controls keep their listeners across sources
      player.playButton.addEventListener("click", () => setPlaying(root.vaewebPlayer, true));
      player.pauseButton.addEventListener("click", () => setPlaying(root.vaewebPlayer, false));
      player.slider.addEventListener("input", () => {
        const p = root.vaewebPlayer;
        setPlaying(p, false);
        p.t = Number(p.slider.value) - 1;
        draw(p, p.t);
      });
      player.speed.addEventListener("change", () => schedule(root.vaewebPlayer));
      player.windows.addEventListener("change", () => draw(root.vaewebPlayer, root.vaewebPlayer.t));
    }
    draw(player, 0);
    root.dataset.steps = String(a.steps);
    setPlaying(player, true);
  }

  /** Players rendered without a circuit (a shared gallery) start from their URL. */
  function playStatic() {
    document.querySelectorAll("[data-animation-url]").forEach(root => {
      if (root.dataset.animationUrl && root.vaewebSource !== root.dataset.animationUrl) {
        root.vaewebSource = root.dataset.animationUrl;
        play(root, root.dataset.animationUrl);
      }
    });
  }

  window.vaeweb.animation = { play };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", playStatic); else playStatic();
  window.Blazor?.addEventListener?.("enhancedload", playStatic);
})();
