// VaeWeb's browser-side drawing: the server sends raw 8-bit pixels, the browser lays them out on a canvas.
window.vaeweb = {
  /**
   * Draws a grid of rows x cols grayscale images of h x w pixels onto a canvas.
   * pixels: Uint8Array (or array) in image-major order, image i = row * cols + col.
   * scale: screen pixels per image pixel; gap: screen pixels between images.
   */
  drawGrid(canvas, rows, cols, h, w, pixels, scale = 2, gap = 2) {
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
    for (let i = 0; i < rows * cols; i++) {
      const offset = i * h * w;
      for (let p = 0; p < h * w; p++) {
        const v = bytes[offset + p];
        image.data[4 * p] = image.data[4 * p + 1] = image.data[4 * p + 2] = v;
        image.data[4 * p + 3] = 255;
      }
      tileCtx.putImageData(image, 0, 0);
      const r = Math.floor(i / cols), c = i % cols;
      ctx.drawImage(tile, gap + c * cell, gap + r * cellH, w * scale, h * scale);
    }
    canvas.dataset.drawn = String(rows * cols);
  },
};
