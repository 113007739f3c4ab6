// node-ucx scheduler dashboard: follows the scheduler over Server-Sent Events (/events)
// and redraws. Plain browser JavaScript, no framework, nothing loaded from elsewhere.
// Key names and addresses come from the cluster: they are only ever set as text.
(function () {
  'use strict';

  var WINDOW_MS = 30000; // the task stream shows at most this much of the past...
  var MIN_WINDOW_MS = 5000; // ...and at least this much: it widens as a run goes on
  var LANE_H = 14;
  var GUTTER = 150;
  var AXIS_H = 18;
  var MAX_LANES = 16;
  var STATES = ['waiting', 'queued', 'no-worker', 'processing', 'memory', 'erred', 'released'];
  var STATE_COLOURS = {
    released: '#afb8c1',
    waiting: '#d0d7de',
    queued: '#a371f7',
    'no-worker': '#e3912b',
    processing: '#8cb9fa',
    memory: '#2f81f7',
    erred: '#cf222e',
  };
  var ERRED = '#cf222e';

  var last = null; // the latest snapshot
  var tasks = []; // task stream entries of the window (scheduler clock)
  var offset = 0; // client clock - scheduler clock
  var fresh = true; // the next message is the first of a connection: it brings the recent past
  var updates = 0;
  var bytesHistory = []; // [scheduler time, bytesMoved]
  var hits = []; // task rectangles drawn, for the tooltip
  var progressRows = new Map();
  var stateRows = new Map();
  var memoryRows = new Map();
  var drawQueued = false;

  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function fmtBytes(n) {
    if (n === null || n === undefined) return '–';
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return (i === 0 || n >= 100 ? Math.round(n) : n.toFixed(1)) + ' ' + units[i];
  }

  function fmtMs(ms) {
    if (ms < 1) return (ms * 1000).toFixed(0) + ' µs';
    if (ms < 1000) return ms.toFixed(ms < 10 ? 1 : 0) + ' ms';
    return (ms / 1000).toFixed(2) + ' s';
  }

  // A colour per key prefix: the palette's colours in the order the prefixes first appeared (the scheduler
  // sends them in that order, so a reload gives the same ones), then hues from a hash of the name.
  // Red is kept for errors.
  var PALETTE = [
    '#4e79a7',
    '#f28e2b',
    '#59a14f',
    '#b07aa1',
    '#76b7b2',
    '#edc948',
    '#9c755f',
    '#ff9da7',
    '#499894',
    '#8cd17d',
    '#d37295',
    '#a0cbe8',
    '#ffbe7d',
    '#79706e',
    '#86bcb6',
    '#fabfd2',
  ];
  var colours = new Map();
  function colour(prefix) {
    var c = colours.get(prefix);
    if (c) return c;
    if (colours.size < PALETTE.length) {
      c = PALETTE[colours.size];
    } else {
      var h = 2166136261;
      for (var i = 0; i < prefix.length; i++) {
        h ^= prefix.charCodeAt(i);
        h = Math.imul(h, 16777619);
      }
      h >>>= 0;
      c = 'hsl(' + (25 + (h % 290)) + ', 55%, ' + (40 + ((h >>> 9) % 3) * 10) + '%)';
    }
    colours.set(prefix, c);
    return c;
  }

  function prefixOf(key) {
    var dash = key.indexOf('-');
    return dash > 0 ? key.slice(0, dash) : key;
  }

  function serverNow() {
    return Date.now() - offset;
  }

  // ---- the connection ----

  function setStatus(text, cls) {
    var s = $('status');
    s.textContent = text;
    s.className = 'status ' + cls;
  }

  function connect() {
    var source = new EventSource('events');
    source.onopen = function () {
      fresh = true;
      setStatus('live', 'live');
    };
    source.onerror = function () {
      // EventSource retries by itself (the server asks for every second).
      setStatus(source.readyState === 2 ? 'disconnected' : 'reconnecting…', 'reconnecting');
    };
    source.onmessage = function (event) {
      var snapshot;
      try {
        snapshot = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      receive(snapshot);
    };
  }

  var goneThreads = new Map(); // threads of workers that left, for their rows while their tasks are in the window

  function receive(s) {
    if (last) for (var g = 0; g < last.workers.length; g++) goneThreads.set(last.workers[g].address, last.workers[g].nthreads);
    offset = Date.now() - s.now;
    if (fresh) {
      tasks = [];
      bytesHistory = [];
      fresh = false;
    }
    for (var i = 0; i < s.tasks.length; i++) tasks.push(s.tasks[i]);
    var cutoff = s.now - WINDOW_MS - 2000;
    var drop = 0;
    while (drop < tasks.length && tasks[drop].stop < cutoff) drop++;
    if (drop > 0) tasks.splice(0, drop);
    bytesHistory.push([s.now, s.bytesMoved]);
    while (bytesHistory.length > 2 && bytesHistory[0][0] < s.now - 60000) bytesHistory.shift();
    for (var p = 0; p < s.prefixes.length; p++) colour(s.prefixes[p].prefix);
    last = s;
    updates++;
    document.body.dataset.updates = String(updates);
    render(s);
    queueDraw();
  }

  // ---- panels ----

  function render(s) {
    var threads = 0;
    for (var i = 0; i < s.workers.length; i++) threads += s.workers[i].nthreads;
    $('address').textContent = s.scheduler.address;
    $('n-workers').textContent = String(s.workers.length);
    $('n-threads').textContent = String(threads);
    $('n-clients').textContent = String(s.scheduler.clients);
    $('n-finished').textContent = String(s.scheduler.finished);
    $('n-erred').textContent = String(s.scheduler.erred);
    renderStates(s.counts);
    renderProgress(s.prefixes);
    renderMemory(s.workers);
    renderWorkers(s.workers);
    renderBytes(s);
  }

  /** A bar: segments [value, colour, opacity?] against `scale`. */
  function setSegments(track, parts, scale) {
    while (track.querySelectorAll('.seg').length < parts.length) track.insertBefore(el('div', 'seg'), track.querySelector('.marker'));
    var segs = track.querySelectorAll('.seg');
    for (var i = 0; i < parts.length; i++) {
      var seg = segs[i];
      seg.style.width = (scale > 0 ? Math.min(100, (100 * parts[i][0]) / scale) : 0) + '%';
      seg.style.background = parts[i][1];
      seg.style.opacity = parts[i][2] === undefined ? '' : String(parts[i][2]);
    }
  }

  function barRow(container, rows, id, name, swatch) {
    var row = rows.get(id);
    if (row) return row;
    row = { root: el('div', 'row'), name: el('div', 'name'), track: el('div', 'track'), numbers: el('div', 'numbers') };
    if (swatch) {
      row.swatch = el('span', 'sw');
      row.name.appendChild(row.swatch);
    }
    row.label = el('span', '', name);
    row.name.appendChild(row.label);
    row.name.title = name;
    row.root.appendChild(row.name);
    row.root.appendChild(row.track);
    row.root.appendChild(row.numbers);
    rows.set(id, row);
    var empty = container.querySelector('.empty');
    if (empty) empty.remove();
    container.appendChild(row.root);
    return row;
  }

  function renderStates(counts) {
    var box = $('states');
    var max = 0;
    for (var i = 0; i < STATES.length; i++) max = Math.max(max, counts[STATES[i]] || 0);
    for (var j = 0; j < STATES.length; j++) {
      var state = STATES[j];
      var n = counts[state] || 0;
      var row = barRow(box, stateRows, state, state, false);
      row.root.dataset.state = state;
      setSegments(row.track, [[n, STATE_COLOURS[state]]], max);
      row.numbers.textContent = String(n);
    }
  }

  function renderProgress(prefixes) {
    var box = $('progress');
    var keep = new Set();
    for (var i = 0; i < prefixes.length; i++) {
      var p = prefixes[i];
      keep.add(p.prefix);
      var row = barRow(box, progressRows, p.prefix, p.prefix, true);
      row.root.dataset.prefix = p.prefix;
      row.swatch.style.background = colour(p.prefix);
      setSegments(
        row.track,
        [
          [p.done, colour(p.prefix)],
          [p.erred, ERRED],
          [p.processing, colour(p.prefix), 0.35],
        ],
        p.total,
      );
      row.numbers.textContent = p.done + ' / ' + p.total;
      if (p.erred > 0) row.numbers.appendChild(el('span', 'erred', ' · ' + p.erred + ' erred'));
      row.track.title = row.numbers.title =
        p.prefix +
        ': ' +
        p.done +
        ' done, ' +
        p.processing +
        ' processing, ' +
        p.waiting +
        ' waiting, ' +
        p.erred +
        ' erred, ' +
        p.memory +
        ' results held' +
        (p.meanMs !== null ? ', ~' + fmtMs(p.meanMs) + ' each' : '');
    }
    progressRows.forEach(function (row, prefix) {
      if (!keep.has(prefix)) {
        row.root.remove();
        progressRows.delete(prefix);
      }
    });
    if (progressRows.size === 0 && !box.querySelector('.empty')) box.appendChild(el('p', 'empty', 'No tasks yet.'));
  }

  function workerLabel(w) {
    return w.name !== w.address ? w.name : w.address.replace(/^[a-z]+:\/\//, '');
  }

  function renderMemory(workers) {
    var box = $('memory');
    var keep = new Set();
    var scale = 0;
    for (var i = 0; i < workers.length; i++) {
      var w = workers[i];
      scale = Math.max(scale, w.memoryLimit || Math.max(w.rss || 0, (w.memory || 0) + (w.spilled || 0)));
    }
    for (var j = 0; j < workers.length; j++) {
      var wk = workers[j];
      keep.add(wk.address);
      var row = barRow(box, memoryRows, wk.address, workerLabel(wk), false);
      row.root.dataset.worker = wk.address;
      row.root.classList.toggle('paused', wk.paused);
      var own = wk.memoryLimit || scale;
      setSegments(
        row.track,
        [
          [wk.memory || 0, 'var(--mem)'],
          [wk.spilled || 0, 'var(--spill)'],
        ],
        own,
      );
      if (!row.marker) {
        row.marker = el('div', 'marker');
        row.track.appendChild(row.marker);
      }
      row.marker.hidden = !wk.rss || !own;
      if (wk.rss && own) row.marker.style.left = 'calc(' + Math.min(100, (100 * wk.rss) / own) + '% - 2px)';
      var text =
        fmtBytes(wk.memory) + (wk.spilled ? ' + ' + fmtBytes(wk.spilled) + ' spilled' : '') + ' / ' + (wk.memoryLimit ? fmtBytes(wk.memoryLimit) : 'no limit');
      row.numbers.textContent = text + (wk.paused ? ' · paused' : '');
      row.track.title = row.numbers.title =
        wk.address +
        '\nin memory ' +
        fmtBytes(wk.memory) +
        ', spilled ' +
        fmtBytes(wk.spilled) +
        ', RSS ' +
        fmtBytes(wk.rss) +
        ', limit ' +
        (wk.memoryLimit ? fmtBytes(wk.memoryLimit) : 'none');
    }
    memoryRows.forEach(function (row, address) {
      if (!keep.has(address)) {
        row.root.remove();
        memoryRows.delete(address);
      }
    });
    if (memoryRows.size === 0 && !box.querySelector('.empty')) box.appendChild(el('p', 'empty', 'No workers.'));
  }

  function renderWorkers(workers) {
    var body = $('workers').tBodies[0];
    while (body.rows.length > workers.length) body.deleteRow(-1);
    for (var i = 0; i < workers.length; i++) {
      var w = workers[i];
      var tr = body.rows[i] || body.insertRow();
      if (tr.cells.length === 0) {
        tr.appendChild(el('td', 'addr'));
        for (var c = 0; c < 5; c++) tr.appendChild(el('td', c === 0 ? '' : 'n'));
      }
      tr.cells[0].textContent = workerLabel(w);
      tr.cells[0].title = w.address;
      tr.cells[1].textContent = w.paused ? 'paused' : w.status;
      tr.cells[2].textContent = String(w.nthreads);
      tr.cells[3].textContent = String(w.processing);
      tr.cells[4].textContent = w.stored + ' (' + fmtBytes(w.nbytes) + ')';
      tr.cells[5].textContent = w.cpu === null ? '–' : Math.round(w.cpu * 100) + ' %';
    }
  }

  function rateOver(ms) {
    if (bytesHistory.length < 2) return 0;
    var end = bytesHistory[bytesHistory.length - 1];
    var i = bytesHistory.length - 2;
    while (i > 0 && bytesHistory[i][0] > end[0] - ms) i--;
    var start = bytesHistory[i];
    var dt = (end[0] - start[0]) / 1000;
    return dt > 0 ? (end[1] - start[1]) / dt : 0;
  }

  function renderBytes(s) {
    $('bytes-moved').textContent = fmtBytes(s.bytesMoved);
    $('bytes-rate').textContent = fmtBytes(rateOver(5000)) + '/s';
    var canvas = $('bytes-spark');
    var ctx = sized(canvas);
    if (!ctx) return;
    var w = canvas.clientWidth,
      h = canvas.clientHeight;
    ctx.clearRect(0, 0, w, h);
    // Rate per second, one point per update, over the last minute.
    var points = [];
    var max = 0;
    for (var i = 1; i < bytesHistory.length; i++) {
      var dt = (bytesHistory[i][0] - bytesHistory[i - 1][0]) / 1000;
      var rate = dt > 0 ? (bytesHistory[i][1] - bytesHistory[i - 1][1]) / dt : 0;
      points.push([bytesHistory[i][0], rate]);
      max = Math.max(max, rate);
    }
    ctx.strokeStyle = '#d8dee4';
    ctx.beginPath();
    ctx.moveTo(0, h - 0.5);
    ctx.lineTo(w, h - 0.5);
    ctx.stroke();
    if (points.length === 0 || max === 0) return;
    ctx.fillStyle = 'rgba(47, 129, 247, 0.18)';
    ctx.strokeStyle = '#2f81f7';
    ctx.beginPath();
    ctx.moveTo(x(points[0][0]), h);
    for (var j = 0; j < points.length; j++) ctx.lineTo(x(points[j][0]), h - 2 - (h - 6) * (points[j][1] / max));
    ctx.lineTo(x(points[points.length - 1][0]), h);
    ctx.closePath();
    ctx.fill();
    ctx.stroke();
    ctx.fillStyle = '#656d76';
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillText('peak ' + fmtBytes(max) + '/s', 4, 12);
    function x(t) {
      return w - ((s.now - t) / 60000) * w;
    }
  }

  // ---- the task stream ----

  function sized(canvas) {
    var ratio = window.devicePixelRatio || 1;
    var w = canvas.clientWidth,
      h = canvas.clientHeight;
    if (w === 0 || h === 0) return null;
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(h * ratio);
    }
    var ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return ctx;
  }

  function queueDraw() {
    if (drawQueued) return;
    drawQueued = true;
    requestAnimationFrame(function () {
      drawQueued = false;
      drawStream();
    });
  }

  function drawStream() {
    var canvas = $('stream');
    var now = serverNow();
    var earliest = now;
    for (var e = 0; e < tasks.length; e++)
      if (tasks[e].stop >= now - WINDOW_MS) {
        earliest = Math.min(earliest, tasks[e].start);
      }
    var span = Math.min(WINDOW_MS, Math.max(MIN_WINDOW_MS, (now - earliest) * 1.1));
    var from = now - span;
    // Rows: the workers there are, then any that ran tasks in the window and have gone.
    var rows = [];
    var byWorker = new Map();
    var workers = last ? last.workers : [];
    for (var i = 0; i < workers.length; i++) {
      var row = { address: workers[i].address, label: workerLabel(workers[i]), threads: workers[i].nthreads, tasks: [], gone: false };
      rows.push(row);
      byWorker.set(row.address, row);
    }
    var legend = new Map();
    for (var t = 0; t < tasks.length; t++) {
      var task = tasks[t];
      if (task.stop < from) continue;
      var r = byWorker.get(task.worker);
      if (!r) {
        r = { address: task.worker, label: task.worker.replace(/^[a-z]+:\/\//, ''), threads: goneThreads.get(task.worker) || 1, tasks: [], gone: true };
        rows.push(r);
        byWorker.set(task.worker, r);
      }
      r.tasks.push(task);
      var prefix = prefixOf(task.key);
      legend.set(prefix, (legend.get(prefix) || 0) + 1);
    }
    // Lanes: a worker's threads, one above the other. A thread runs one task at a time, so a task goes to
    // the lane that is free when it starts, or (start times are the scheduler's estimate) the one free soonest.
    var lanes = 0;
    for (var k = 0; k < rows.length; k++) {
      var rw = rows[k];
      rw.lanes = Math.max(1, Math.min(MAX_LANES, rw.threads));
      var ends = [];
      for (var z = 0; z < rw.lanes; z++) ends.push(-Infinity);
      rw.tasks.sort(function (a, b) {
        return a.start - b.start;
      });
      for (var m = 0; m < rw.tasks.length; m++) {
        var tk = rw.tasks[m];
        var lane = 0;
        for (var l = 1; l < ends.length; l++) if (ends[l] < ends[lane]) lane = l;
        ends[lane] = Math.max(ends[lane], tk.stop);
        tk.lane = lane;
      }
      rw.top = lanes * LANE_H;
      lanes += rw.lanes;
    }
    var height = Math.max(2, lanes) * LANE_H + AXIS_H;
    if (canvas.style.height !== height + 'px') canvas.style.height = height + 'px';
    var ctx = sized(canvas);
    if (!ctx) return;
    var w = canvas.clientWidth;
    var plot = w - GUTTER - 8;
    ctx.clearRect(0, 0, w, height);
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    // Row backgrounds and names.
    for (var n = 0; n < rows.length; n++) {
      var rr = rows[n];
      ctx.fillStyle = n % 2 === 0 ? '#f6f8fa' : '#ffffff';
      ctx.fillRect(GUTTER, rr.top, plot, rr.lanes * LANE_H);
      ctx.fillStyle = rr.gone ? '#8c959f' : '#1f2328';
      ctx.fillText(clip(ctx, rr.label + (rr.gone ? ' (gone)' : ''), GUTTER - 10), 4, rr.top + (rr.lanes * LANE_H) / 2);
    }
    if (rows.length === 0) {
      ctx.fillStyle = '#656d76';
      ctx.fillText('No workers yet.', GUTTER, LANE_H);
    }
    // Time axis: 'now' at the right, a tick every 1, 2 or 5 s.
    var axisY = lanes * LANE_H;
    var step = span <= 6000 ? 1000 : span <= 12000 ? 2000 : 5000;
    ctx.strokeStyle = '#d0d7de';
    ctx.fillStyle = '#656d76';
    ctx.textBaseline = 'top';
    ctx.textAlign = 'center';
    for (var s = 0; s <= span; s += step) {
      var tx = GUTTER + plot - (s / span) * plot;
      ctx.beginPath();
      ctx.moveTo(Math.round(tx) + 0.5, 0);
      ctx.lineTo(Math.round(tx) + 0.5, axisY + 3);
      ctx.stroke();
      ctx.fillText(s === 0 ? 'now' : '-' + s / 1000 + ' s', Math.max(GUTTER + 12, Math.min(tx, w - 14)), axisY + 4);
    }
    ctx.textAlign = 'start';
    // The tasks.
    hits = [];
    var drawn = 0;
    for (var q = 0; q < rows.length; q++) {
      var rq = rows[q];
      for (var p = 0; p < rq.tasks.length; p++) {
        var ta = rq.tasks[p];
        var x0 = GUTTER + ((Math.max(ta.start, from) - from) / span) * plot;
        var x1 = GUTTER + ((Math.min(ta.stop, now) - from) / span) * plot;
        var bw = Math.max(1, x1 - x0);
        var y = rq.top + ta.lane * LANE_H + 1;
        ctx.fillStyle = ta.status === 'erred' ? ERRED : colour(prefixOf(ta.key));
        ctx.fillRect(x0, y, bw, LANE_H - 2);
        if (ta.status === 'erred') {
          ctx.strokeStyle = '#82071e';
          ctx.strokeRect(x0 + 0.5, y + 0.5, Math.max(0, bw - 1), LANE_H - 3);
        }
        hits.push([x0, y, bw, LANE_H - 2, ta]);
        drawn++;
      }
    }
    canvas.dataset.drawn = String(drawn);
    $('stream-caption').textContent = 'last ' + Math.round(span / 1000) + ' s · a row per worker thread · colour per key prefix';
    canvas.dataset.rows = String(rows.length);
    renderLegend(legend);
  }

  function clip(ctx, text, width) {
    if (ctx.measureText(text).width <= width) return text;
    while (text.length > 1 && ctx.measureText(text + '…').width > width) text = text.slice(1);
    return '…' + text;
  }

  function renderLegend(counts) {
    var box = $('legend');
    var names = Array.from(counts.keys());
    var spans = box.children;
    while (spans.length > names.length) box.lastChild.remove();
    for (var i = 0; i < names.length; i++) {
      var item = spans[i];
      if (!item) {
        item = el('span');
        item.appendChild(el('i', 'sw'));
        item.appendChild(el('span', 'prefix'));
        item.appendChild(el('span', 'count'));
        box.appendChild(item);
      }
      item.dataset.prefix = names[i];
      item.children[0].style.background = colour(names[i]);
      item.children[1].textContent = names[i];
      item.children[2].textContent = String(counts.get(names[i]));
    }
  }

  function showTooltip(event) {
    var canvas = $('stream');
    var tip = $('tooltip');
    var box = canvas.getBoundingClientRect();
    var mx = event.clientX - box.left,
      my = event.clientY - box.top;
    for (var i = hits.length - 1; i >= 0; i--) {
      var h = hits[i];
      if (mx >= h[0] - 1 && mx <= h[0] + h[2] + 1 && my >= h[1] && my <= h[1] + h[3]) {
        var t = h[4];
        tip.textContent =
          t.key +
          '\n' +
          t.worker +
          '\n' +
          (t.status === 'erred' ? 'erred after ' : 'ran ') +
          fmtMs(t.stop - t.start) +
          (t.status === 'erred' ? '' : ', ' + fmtBytes(t.nbytes));
        tip.hidden = false;
        tip.style.left = Math.min(mx + 12, box.width - tip.offsetWidth - 4) + 'px';
        tip.style.top = my + 14 + 'px';
        return;
      }
    }
    tip.hidden = true;
  }

  function start() {
    $('stream').addEventListener('mousemove', showTooltip);
    $('stream').addEventListener('mouseleave', function () {
      $('tooltip').hidden = true;
    });
    window.addEventListener('resize', function () {
      if (last) renderBytes(last);
      queueDraw();
    });
    // The stream scrolls with time even when nothing finishes.
    setInterval(function () {
      if (last) queueDraw();
    }, 250);
    connect();
  }

  start();
})();
