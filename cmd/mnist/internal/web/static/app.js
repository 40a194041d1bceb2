// The drawing page of `mnist serve`: strokes on a canvas (mouse, pen or
// touch through pointer events), undo, clear, upload or drop an image, and
// the model's answer from POST /api/predict shown as it is drawn.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const canvas = $('canvas');
  const ctx = canvas.getContext('2d');
  const pad = $('pad');
  const undoButton = $('undo');
  const clearButton = $('clear');
  const fileInput = $('file');
  const statusLine = $('status');
  const digitOut = $('digit');
  const confidence = $('confidence');
  const inputCanvas = $('input');
  const resultCard = document.querySelector('.result');
  const bars = $('bars');

  const INK = '#111111';
  const PAPER = '#ffffff';
  const STROKE = 0.075;         // marker width as a fraction of the pad: MNIST strokes are thick
  const LIVE_DELAY_MS = 150;    // at most one prediction this often while a stroke is drawn
  const MAX_UPLOAD = 1 << 20;   // the server's body limit
  const MAX_SIDE = 1024;        // images converted in the browser are scaled to this
  // The drawing is sent as a PNG of this size whatever the pad's size on
  // screen: the same strokes give the same input on every device, and the
  // request stays small (the model sees 20 pixels of it anyway).
  const SEND_SIZE = 280;

  const state = {
    strokes: [],        // each a list of [x, y] in 0..1 of the pad
    drawing: null,      // {id, points} of the stroke under the pointer
    background: null,   // an uploaded image (ImageBitmap), drawn under the strokes
    epoch: 0,           // bumped when the pad is cleared or replaced: late answers are dropped
    timer: 0,
    inflight: false,
    again: false,       // the pad changed while a request was in flight
    frame: 0,
    results: 0,
  };

  // ---- the probability bars: one per class, named as the model names
  // them (digits until /api/model answers) ----
  const rows = [];
  let classNames = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
  function buildBars(names) {
    classNames = names;
    rows.length = 0;
    bars.textContent = '';
    names.forEach((name) => {
      const li = document.createElement('li');
      li.innerHTML = '<span class="label"></span><span class="track"><span class="fill"></span></span><span class="pct">–</span>';
      li.querySelector('.label').textContent = name; // names come from the model file: text, never markup
      li.setAttribute('aria-label', `${name}: no prediction`);
      bars.appendChild(li);
      rows.push({ li, fill: li.querySelector('.fill'), pct: li.querySelector('.pct') });
    });
  }
  buildBars(classNames);

  // ---- drawing ----
  function resize() {
    const rect = canvas.getBoundingClientRect();
    const dpr = Math.min(window.devicePixelRatio || 1, 2);
    const size = Math.max(1, Math.round(rect.width * dpr));
    if (canvas.width !== size || canvas.height !== size) {
      canvas.width = size;
      canvas.height = size;
      redraw();
    }
  }

  function redraw() {
    state.frame = 0;
    render(ctx, canvas.width);
    pad.classList.toggle('inked', hasInk());
  }

  // render paints the pad (paper, uploaded image, strokes) into a w×w context.
  function render(g, w) {
    g.fillStyle = PAPER;
    g.fillRect(0, 0, w, w);
    if (state.background) {
      const b = state.background;
      const k = Math.min(w / b.width, w / b.height);
      const bw = b.width * k;
      const bh = b.height * k;
      g.imageSmoothingQuality = 'high';
      g.drawImage(b, (w - bw) / 2, (w - bh) / 2, bw, bh);
    }
    g.strokeStyle = INK;
    g.fillStyle = INK;
    g.lineCap = 'round';
    g.lineJoin = 'round';
    g.lineWidth = STROKE * w;
    for (const s of state.strokes) drawStroke(g, s, w);
  }

  // drawStroke draws a smooth marker line through the points: quadratic
  // curves between the midpoints, a dot for a single tap.
  function drawStroke(g, pts, w) {
    if (pts.length === 1) {
      g.beginPath();
      g.arc(pts[0][0] * w, pts[0][1] * w, (STROKE * w) / 2, 0, 2 * Math.PI);
      g.fill();
      return;
    }
    g.beginPath();
    g.moveTo(pts[0][0] * w, pts[0][1] * w);
    for (let i = 1; i < pts.length - 1; i++) {
      const mx = ((pts[i][0] + pts[i + 1][0]) / 2) * w;
      const my = ((pts[i][1] + pts[i + 1][1]) / 2) * w;
      g.quadraticCurveTo(pts[i][0] * w, pts[i][1] * w, mx, my);
    }
    const last = pts[pts.length - 1];
    g.lineTo(last[0] * w, last[1] * w);
    g.stroke();
  }

  function requestRedraw() {
    if (!state.frame) state.frame = requestAnimationFrame(redraw);
  }

  const hasInk = () => state.strokes.length > 0 || state.background !== null;

  function point(e) {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height];
  }

  canvas.addEventListener('pointerdown', (e) => {
    if (!e.isPrimary || e.button !== 0 || state.drawing) return;
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    const points = [point(e)];
    state.drawing = { id: e.pointerId, points };
    state.strokes.push(points);
    changed();
  });

  canvas.addEventListener('pointermove', (e) => {
    const s = state.drawing;
    if (!s || e.pointerId !== s.id) return;
    e.preventDefault();
    const events = typeof e.getCoalescedEvents === 'function' ? e.getCoalescedEvents() : [];
    for (const ev of events.length ? events : [e]) s.points.push(point(ev));
    requestRedraw();
    if (!state.timer) state.timer = setTimeout(predict, LIVE_DELAY_MS);
    syncPending();
  });

  function endStroke(e) {
    const s = state.drawing;
    if (!s || e.pointerId !== s.id) return;
    state.drawing = null;
    if (canvas.hasPointerCapture(e.pointerId)) canvas.releasePointerCapture(e.pointerId);
    requestRedraw();
    predictSoon(0);
  }
  canvas.addEventListener('pointerup', endStroke);
  canvas.addEventListener('pointercancel', endStroke);
  canvas.addEventListener('contextmenu', (e) => e.preventDefault());

  // changed is called after every edit of the pad.
  function changed() {
    requestRedraw();
    undoButton.disabled = state.strokes.length === 0;
    clearButton.disabled = !hasInk();
    if (!hasInk()) {
      state.epoch++;
      clearTimeout(state.timer);
      state.timer = 0;
      showEmpty();
      syncPending();
      return;
    }
    predictSoon(LIVE_DELAY_MS);
  }

  function undo() {
    if (state.drawing || state.strokes.length === 0) return;
    state.strokes.pop();
    changed();
  }

  function clear() {
    if (state.drawing) return;
    state.strokes = [];
    state.background = null;
    changed();
    setStatus('');
  }

  undoButton.addEventListener('click', undo);
  clearButton.addEventListener('click', clear);
  document.addEventListener('keydown', (e) => {
    if ((e.ctrlKey || e.metaKey) && !e.shiftKey && e.key.toLowerCase() === 'z') {
      e.preventDefault();
      undo();
    } else if (e.key === 'Escape') {
      clear();
    }
  });

  // ---- talking to the server ----
  function predictSoon(delay) {
    clearTimeout(state.timer);
    state.timer = setTimeout(predict, delay);
    syncPending();
  }

  // syncPending publishes whether an answer is still to come (a timer, a
  // request in flight or one queued behind it), for people and tests:
  // data-pending on the result panel, aria-busy for screen readers.
  function syncPending() {
    const pending = Boolean(state.timer || state.inflight || state.again);
    resultCard.dataset.pending = pending ? 'true' : 'false';
    resultCard.setAttribute('aria-busy', String(pending));
  }

  function predict() {
    clearTimeout(state.timer);
    state.timer = 0;
    if (!hasInk()) {
      syncPending();
      return;
    }
    if (state.inflight) {
      state.again = true;
      syncPending();
      return;
    }
    const epoch = state.epoch;
    state.inflight = true;
    const out = document.createElement('canvas');
    out.width = SEND_SIZE;
    out.height = SEND_SIZE;
    render(out.getContext('2d'), SEND_SIZE);
    out.toBlob((blob) => {
      if (!blob) {
        finished();
        setStatus('The browser could not export the drawing as PNG.', true);
        return;
      }
      send(blob, 'image/png', epoch);
    }, 'image/png');
  }

  async function send(body, type, epoch, note = '') {
    state.inflight = true;
    resultCard.classList.add('busy');
    syncPending();
    try {
      const resp = await fetch('/api/predict', { method: 'POST', headers: { 'Content-Type': type }, body });
      let answer = null;
      try {
        answer = await resp.json();
      } catch (_) {
        answer = { error: `the server answered ${resp.status} ${resp.statusText}` };
      }
      if (epoch !== state.epoch) return; // the pad was cleared or replaced meanwhile
      if (resp.ok) {
        showPrediction(answer);
        setStatus(note);
      } else if (resp.status === 422) {
        showEmpty();
        setStatus('No ink found — draw a digit with a darker or thicker line.');
      } else {
        showEmpty();
        setStatus(answer.error || `the server answered ${resp.status}`, true);
      }
    } catch (err) {
      if (epoch === state.epoch) setStatus(`Cannot reach the server: ${err.message}`, true);
    } finally {
      finished();
    }
  }

  function finished() {
    state.inflight = false;
    resultCard.classList.remove('busy');
    if (state.again) {
      state.again = false;
      predictSoon(0);
    }
    syncPending();
  }

  function setStatus(text, isError = false) {
    statusLine.textContent = text;
    statusLine.classList.toggle('error', isError);
  }

  // ---- showing the answer ----
  function showPrediction(p) {
    const probs = p.probabilities;
    const d = p.digit;
    const name = p.class || classNames[d] || String(d);
    digitOut.textContent = name;
    digitOut.classList.remove('empty');
    confidence.innerHTML = '';
    const strong = document.createElement('strong');
    strong.textContent = percent(probs[d]);
    confidence.append(strong, ` sure it is ${name}`);
    rows.forEach((r, i) => {
      const v = probs[i] || 0;
      r.fill.style.width = `${(100 * v).toFixed(1)}%`;
      r.pct.textContent = percent(v);
      r.li.classList.toggle('best', i === d);
      r.li.setAttribute('aria-label', `${classNames[i]}: ${percent(v)}`);
    });
    drawInput(p.input, p.cols, p.rows);
    state.results++;
    resultCard.dataset.state = 'ok';
    resultCard.dataset.results = String(state.results);
  }

  function showEmpty() {
    digitOut.textContent = '–';
    digitOut.classList.add('empty');
    confidence.textContent = 'Draw to see what the model reads';
    for (const r of rows) {
      r.fill.style.width = '0';
      r.pct.textContent = '–';
      r.li.classList.remove('best');
    }
    const c = inputCanvas.getContext('2d');
    c.fillStyle = '#000';
    c.fillRect(0, 0, inputCanvas.width, inputCanvas.height);
    resultCard.dataset.state = 'empty';
  }

  // drawInput shows the model's input as MNIST stores it: bright ink on black.
  function drawInput(pixels, w, h) {
    if (!Array.isArray(pixels) || pixels.length !== w * h) return;
    inputCanvas.width = w;
    inputCanvas.height = h;
    const c = inputCanvas.getContext('2d');
    const img = c.createImageData(w, h);
    pixels.forEach((v, i) => {
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
      img.data[4 * i + 3] = 255;
    });
    c.putImageData(img, 0, 0);
  }

  function percent(v) {
    const pc = 100 * v;
    if (pc >= 99.95) return '100%';
    if (pc < 0.05) return pc === 0 ? '0%' : '<0.1%';
    return `${pc.toFixed(1)}%`;
  }

  // ---- uploads: the file input and drag and drop ----
  async function upload(file) {
    if (!file) return;
    let bitmap;
    try {
      bitmap = await createImageBitmap(file);
    } catch (_) {
      setStatus(`${file.name || 'The file'} is not an image this browser can read.`, true);
      return;
    }
    let body = file;
    let type = file.type;
    if (!(type === 'image/png' || type === 'image/jpeg') || file.size > MAX_UPLOAD) {
      // Other formats (GIF, WebP, …) and large files become a PNG (or a
      // JPEG when that is still too large) of at most MAX_SIDE pixels a side.
      [body, type] = await convert(bitmap);
      if (!body) {
        setStatus(`${file.name || 'The image'} is too large to send even after scaling down.`, true);
        return;
      }
    }
    state.strokes = [];
    state.background = bitmap;
    state.epoch++;
    changed();
    clearTimeout(state.timer); // the file itself is sent, not the pad
    state.timer = 0;
    state.again = false;
    syncPending();
    setStatus(`Reading ${file.name || 'the image'}…`);
    send(body, type, state.epoch, file.name ? `Read from ${file.name}` : '');
  }

  async function convert(bitmap) {
    const k = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    const c = document.createElement('canvas');
    c.width = Math.max(1, Math.round(bitmap.width * k));
    c.height = Math.max(1, Math.round(bitmap.height * k));
    const g = c.getContext('2d');
    g.fillStyle = PAPER; // transparent areas are paper
    g.fillRect(0, 0, c.width, c.height);
    g.drawImage(bitmap, 0, 0, c.width, c.height);
    const toBlob = (t, q) => new Promise((res) => c.toBlob(res, t, q));
    const png = await toBlob('image/png');
    if (png && png.size <= MAX_UPLOAD) return [png, 'image/png'];
    const jpeg = await toBlob('image/jpeg', 0.92);
    if (jpeg && jpeg.size <= MAX_UPLOAD) return [jpeg, 'image/jpeg'];
    return [null, ''];
  }

  fileInput.addEventListener('change', () => {
    upload(fileInput.files[0]);
    fileInput.value = ''; // choosing the same file again still fires change
  });

  let dragDepth = 0;
  const isFileDrag = (e) => e.dataTransfer && Array.from(e.dataTransfer.types || []).includes('Files');
  document.addEventListener('dragenter', (e) => {
    if (!isFileDrag(e)) return;
    e.preventDefault();
    dragDepth++;
    pad.classList.add('dragging');
  });
  document.addEventListener('dragover', (e) => {
    if (!isFileDrag(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
  });
  document.addEventListener('dragleave', () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) pad.classList.remove('dragging');
  });
  document.addEventListener('drop', (e) => {
    if (!isFileDrag(e)) return;
    e.preventDefault();
    dragDepth = 0;
    pad.classList.remove('dragging');
    upload(e.dataTransfer.files[0]);
  });

  // ---- the model ----
  async function loadModel() {
    const el = $('model-info');
    try {
      const resp = await fetch('/api/model');
      const m = await resp.json();
      if (!resp.ok) throw new Error(m.error || resp.statusText);
      el.textContent = '';
      const name = document.createElement('strong');
      name.textContent = m.name;
      const parts = [`${m.architecture}`, `${m.parameters.toLocaleString('en')} parameters`];
      if (m.test_accuracy) {
        parts.push(`${(100 * m.test_accuracy).toFixed(2)}% test accuracy`);
        if (m.epochs) parts.push(`${m.epochs} epoch${m.epochs === 1 ? '' : 's'}`);
      } else {
        parts.push('untrained');
      }
      el.append(name, ' · ' + parts.join(' · '));
      if (Array.isArray(m.class_names) && m.class_names.length === m.classes) {
        buildBars(m.class_names);
        if (m.class_names.join(' ') !== '0 1 2 3 4 5 6 7 8 9') {
          // Not MNIST's digits: say what the model reads.
          const shown = m.class_names.slice(0, 8).join(', ') + (m.classes > 8 ? ', …' : '');
          $('hint').textContent = `Draw one of the ${m.classes} classes here (${shown})`;
          document.querySelector('h1').textContent = 'Draw a character';
        }
      }
      document.body.dataset.model = m.name;
    } catch (err) {
      el.textContent = `Could not load the model description: ${err.message}`;
    }
  }

  new ResizeObserver(resize).observe(canvas);
  resize();
  showEmpty();
  syncPending();
  loadModel();
})();
