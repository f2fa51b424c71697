// The laptime dashboard: plain browser JavaScript over the JSON API (/api/*). Every string from the
// store (function names, field values, messages) is written with textContent, never as HTML.
'use strict';

(() => {
  const token = new URLSearchParams(location.search).get('token');
  const $ = (id) => document.getElementById(id);
  const state = { rows: [], sort: 'p99', asc: false, selected: null, eventsCursor: null, seriesChart: null, histChart: null, group: '', rowsGroup: '', eventsGroup: '', fieldsScope: null };
  // Line colours of a grouped latency chart (one per value, then again).
  const PALETTE = ['#2e90fa', '#f79009', '#12b76a', '#d92d20', '#7a5af8', '#ee46bc', '#0e9384', '#667085', '#b54708', '#3538cd'];

  async function api(path, params = {}) {
    const qs = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ''));
    const res = await fetch(`/api/${path}?${qs}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error ? body.error.message : `HTTP ${res.status}`);
    return body;
  }

  function showError(err) {
    const box = $('error');
    if (err === null) {
      box.hidden = true;
      box.textContent = '';
    } else {
      box.hidden = false;
      box.textContent = String(err.message || err);
    }
  }

  function rangeParams() {
    const r = $('range').value;
    return r === 'all' ? { since: '3650d' } : { since: r };
  }

  const fmt = {
    duration(ns) {
      if (ns === null || ns === undefined) return '-';
      if (ns < 1e3) return `${Math.round(ns)}ns`;
      if (ns < 1e6) return `${(ns / 1e3).toFixed(ns < 1e4 ? 2 : 1)}µs`;
      if (ns < 1e9) return `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 1)}ms`;
      return `${(ns / 1e9).toFixed(2)}s`;
    },
    count: (n) => (n === null || n === undefined ? '-' : Math.round(n).toLocaleString('en-US')),
    rate: (r) => (r === null || r === undefined ? '-' : r >= 1000 ? `${(r / 1000).toFixed(1)}k/s` : `${r.toFixed(r >= 10 ? 0 : 1)}/s`),
    percent: (x) => (x === null || x === undefined ? '-' : `${(x * 100).toFixed(x < 0.01 ? 2 : 1)}%`),
    time: (ms) => new Date(ms).toISOString().replace('T', ' ').replace('Z', ''),
    // A group value: the field's value as text; calls without the field are "(none)".
    group: (v) => (v === null || v === undefined ? '(none)' : String(v)),
  };

  /** The field a group key names (`field.name` is the field called name). */
  function fieldOf(key) {
    return key.startsWith('field.') ? key.slice('field.'.length) : key;
  }

  /** Orders numbers numerically, everything else as text; missing values last. */
  function compareValues(x, y) {
    const missX = x === null || x === undefined;
    const missY = y === null || y === undefined;
    if (missX || missY) return missX === missY ? 0 : missX ? 1 : -1;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return String(x).localeCompare(String(y));
  }

  function cell(tr, text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  // Functions table ---------------------------------------------------------------------------
  const COLUMNS = [
    ['name', (r) => r.name],
    ['count', (r) => fmt.count(r.count), 'num'],
    ['rate', (r) => fmt.rate(r.rate), 'num'],
    ['mean', (r) => fmt.duration(r.mean), 'num'],
    ['p50', (r) => fmt.duration(r.p50), 'num'],
    ['p90', (r) => fmt.duration(r.p90), 'num'],
    ['p99', (r) => fmt.duration(r.p99), 'num'],
    ['max', (r) => fmt.duration(r.max), 'num'],
    ['errorRate', (r) => fmt.percent(r.errorRate), 'num'],
  ];

  /** A header cell for the group column after `after`, present only while a group is chosen. */
  function groupHeader(table, id, after, key, sortable) {
    const row = table.tHead.rows[0];
    let th = document.getElementById(id);
    if (key === '') {
      if (th) th.remove();
      return;
    }
    if (!th) {
      th = document.createElement('th');
      th.id = id;
      th.className = 'group-value';
      if (sortable) {
        th.dataset.key = 'group';
        th.addEventListener('click', () => sortBy('group'));
      }
      row.insertBefore(th, row.cells[after + 1] || null);
    }
    th.textContent = key;
  }

  function renderFunctions() {
    const needle = $('name-filter').value.trim().toLowerCase();
    const rows = state.rows.filter((r) => r.name.toLowerCase().includes(needle));
    const key = state.sort;
    const grouped = state.rowsGroup !== '';
    rows.sort((a, b) => {
      const x = a[key];
      const y = b[key];
      const o = key === 'group' ? compareValues(x, y) : typeof x === 'string' ? x.localeCompare(y) : (x ?? -Infinity) - (y ?? -Infinity);
      return state.asc ? o : -o;
    });
    groupHeader($('functions'), 'functions-group', 0, state.rowsGroup, true);
    const body = $('functions').tBodies[0];
    body.replaceChildren();
    for (const r of rows) {
      const tr = document.createElement('tr');
      tr.dataset.name = r.name;
      if (r.name === state.selected) tr.className = 'selected';
      COLUMNS.forEach(([, text, cls], i) => {
        cell(tr, text(r), cls);
        if (i === 0 && grouped) cell(tr, fmt.group(r.group), 'group-value');
      });
      tr.addEventListener('click', () => select(r.name));
      body.appendChild(tr);
    }
    for (const th of $('functions').tHead.rows[0].cells) {
      th.classList.toggle('sorted', th.dataset.key === state.sort);
      th.classList.toggle('asc', th.dataset.key === state.sort && state.asc);
    }
  }

  async function loadStats() {
    const group = state.group;
    const body = await api('stats', { ...rangeParams(), filter: $('filter').value, group });
    state.rows = body.rows;
    state.rowsGroup = group;
    if (group === '' && state.sort === 'group') state.sort = 'p99';
    if (state.selected === null || !state.rows.some((r) => r.name === state.selected)) {
      state.selected = state.rows.length > 0 ? state.rows[0].name : null;
    }
    renderFunctions();
  }

  // Charts --------------------------------------------------------------------------------------
  function chartWidth(el) {
    return Math.max(320, el.clientWidth || 600);
  }

  /**
   * Chart data of a grouped series answer: one p99 line per value (times of all series merged, gaps
   * as null) and the calls/s of all of them together as bars.
   */
  function groupedChart(series) {
    const times = [...new Set(series.series.flatMap((s) => s.points.map((p) => p.time)))].sort((a, b) => a - b);
    const at = new Map(times.map((t, i) => [t, i]));
    const calls = times.map(() => 0);
    const lines = series.series.map((s, i) => {
      const values = times.map(() => null);
      for (const p of s.points) {
        values[at.get(p.time)] = p.p99 === null ? null : p.p99 / 1e6;
        calls[at.get(p.time)] += p.count;
      }
      const label = s.other ? 'other' : fmt.group(s.value);
      return { values, opts: { label: `${label} · p99 ms`, scale: 'ms', stroke: PALETTE[i % PALETTE.length], width: 1.5 } };
    });
    return {
      data: [times.map((t) => t / 1000), ...lines.map((l) => l.values), calls.map((c) => c / (series.bucketMs / 1000))],
      series: [{}, ...lines.map((l) => l.opts)],
    };
  }

  /**
   * A uPlot plugin drawing each marker in the chart's time range as a dashed vertical line with its
   * label (and version), as DOM elements written with textContent over the plot.
   */
  function marksPlugin(marks) {
    const layer = [];
    const draw = (u) => {
      for (const el of layer.splice(0)) el.remove();
      const { min, max } = u.scales.x;
      for (const m of marks) {
        const t = m.time / 1000;
        if (!(t >= min && t <= max)) continue;
        const line = document.createElement('div');
        line.className = 'mark';
        line.style.left = `${u.valToPos(t, 'x')}px`;
        const label = document.createElement('span');
        label.className = 'mark-label';
        const version = m.fields && m.fields.version !== undefined ? ` ${m.fields.version}` : '';
        label.textContent = `${m.label}${version}`;
        line.title = `${fmt.time(m.time)} ${m.label}${Object.entries(m.fields || {}).map(([k, v]) => ` ${k}=${v}`).join('')}`;
        line.appendChild(label);
        u.over.appendChild(line);
        layer.push(line);
      }
    };
    return { hooks: { draw: [draw] } };
  }

  async function loadDetail() {
    const name = state.selected;
    $('selected').textContent = name === null ? '(no function)' : name;
    if (name === null) return;
    const params = { ...rangeParams(), filter: $('filter').value, name };
    const group = state.group;
    const [series, hist, marks] = await Promise.all([
      api('series', { ...params, group }),
      api('histogram', params),
      api('marks', rangeParams()).then((b) => b.marks),
    ]);
    let seriesData;
    let lines;
    if (series.series) {
      const g = groupedChart(series);
      seriesData = g.data;
      lines = g.series;
    } else {
      const t = series.points.map((p) => p.time / 1000);
      const ms = (k) => series.points.map((p) => (p[k] === null ? null : p[k] / 1e6));
      seriesData = [t, ms('p50'), ms('p90'), ms('p99')];
      lines = [
        {},
        { label: 'p50 ms', scale: 'ms', stroke: '#2e90fa', width: 1.5 },
        { label: 'p90 ms', scale: 'ms', stroke: '#f79009', width: 1.5 },
        { label: 'p99 ms', scale: 'ms', stroke: '#d92d20', width: 2 },
      ];
      seriesData.push(series.points.map((p) => p.count / (series.bucketMs / 1000)));
    }
    // The time axis also covers the markers in range, so a deploy just before the first call shows.
    const markTimes = marks.map((m) => m.time / 1000);
    const el = $('series-chart');
    if (state.seriesChart) state.seriesChart.destroy();
    state.seriesChart = new uPlot(
      {
        width: chartWidth(el),
        height: 240,
        plugins: [marksPlugin(marks)],
        scales: {
          x: { time: true, range: (u, min, max) => (markTimes.length === 0 || min === null ? [min, max] : [Math.min(min, ...markTimes), Math.max(max, ...markTimes)]) },
          ms: { auto: true },
          rate: { auto: true },
        },
        series: [
          ...lines,
          { label: 'calls/s', scale: 'rate', stroke: '#98a2b3', fill: 'rgba(152,162,179,0.25)', paths: uPlot.paths.bars({ size: [0.8] }) },
        ],
        axes: [{}, { scale: 'ms', label: 'ms' }, { scale: 'rate', side: 1, label: 'calls/s', grid: { show: false } }],
      },
      seriesData,
      el,
    );
    el.dataset.marks = String(marks.length);
    const hel = $('histogram-chart');
    if (state.histChart) state.histChart.destroy();
    const bins = hist.bins;
    state.histChart = new uPlot(
      {
        width: chartWidth(hel),
        height: 200,
        scales: { x: { time: false, distr: 3 } },
        series: [{ label: 'duration ms' }, { label: 'calls', stroke: '#6172f3', fill: 'rgba(97,114,243,0.35)', paths: uPlot.paths.bars({ size: [1] }) }],
        axes: [{ label: 'duration (ms, log)' }, { label: 'calls' }],
      },
      [bins.map((b) => Math.sqrt(b.lo * b.hi) / 1e6), bins.map((b) => b.count)],
      hel,
    );
  }

  async function select(name) {
    state.selected = name;
    renderFunctions();
    try {
      await loadDetail();
      showError(null);
    } catch (err) {
      showError(err);
    }
  }

  // Anomalies and regressions -----------------------------------------------------------------
  function finding(list, parts) {
    const li = document.createElement('li');
    for (const [text, cls] of parts) {
      const span = document.createElement('span');
      span.textContent = text;
      if (cls) span.className = cls;
      li.appendChild(span);
    }
    list.appendChild(li);
  }

  async function loadFindings() {
    const range = $('range').value === 'all' ? '24h' : $('range').value;
    const filter = $('filter').value;
    const spanMs = { '15m': 9e5, '1h': 36e5, '6h': 216e5, '24h': 864e5, '7d': 6048e5 }[range];
    // Relative to the server's clock: this range against the one just before it.
    const [anomalies, report] = await Promise.all([
      api('anomalies', { since: range, filter }),
      api('compare', { baseline: `${2 * spanMs}ms..${spanMs}ms`, candidate: `${spanMs}ms..now`, filter }),
    ]);
    const al = $('anomalies');
    al.replaceChildren();
    for (const a of anomalies.anomalies.slice(-20).reverse()) {
      const value = a.metric === 'errorRate' ? fmt.percent : fmt.duration;
      finding(al, [
        [`${fmt.time(a.time)} `, 'muted'],
        [a.name, null],
        [` ${a.metric} ${value(a.value)} vs ${value(a.baseline)} `, null],
        [Number.isFinite(a.relativeChange) ? `(${a.relativeChange >= 0 ? '+' : ''}${(a.relativeChange * 100).toFixed(0)}%)` : '(new)', a.direction === 'up' ? 'bad' : 'good'],
      ]);
    }
    if (al.children.length === 0) finding(al, [['none', 'muted']]);
    const rl = $('regressions');
    rl.replaceChildren();
    for (const f of report.functions.filter((f) => f.verdict === 'regressed' || f.verdict === 'improved').slice(0, 20)) {
      const p99 = f.percentiles.find((p) => p.percentile === 99);
      finding(rl, [
        [f.name, null],
        [` ${f.verdict}`, f.verdict === 'regressed' ? 'bad' : 'good'],
        [p99 ? ` p99 ${fmt.duration(p99.baseline)} → ${fmt.duration(p99.candidate)}` : '', null],
        [` errors ${fmt.percent(f.baseline.errorRate)} → ${fmt.percent(f.candidate.errorRate)}`, 'muted'],
      ]);
    }
    if (rl.children.length === 0) finding(rl, [['none', 'muted']]);
  }

  // Events ------------------------------------------------------------------------------------
  async function loadEvents(more) {
    const params = { filter: $('events-filter').value, limit: 50 };
    if (more && state.eventsCursor) params.cursor = state.eventsCursor;
    const group = more ? state.eventsGroup : state.group;
    const page = await api('events', params);
    const body = $('events').tBodies[0];
    if (!more) {
      body.replaceChildren();
      state.eventsGroup = group;
      groupHeader($('events'), 'events-group', 1, group, false);
    }
    const field = fieldOf(group);
    for (const e of page.events) {
      const tr = document.createElement('tr');
      cell(tr, fmt.time(e.start));
      cell(tr, e.name);
      if (group !== '') cell(tr, Object.prototype.hasOwnProperty.call(e.fields, field) ? String(e.fields[field]) : '', 'group-value');
      cell(tr, e.kind === 'call' ? fmt.duration(e.durationNs) : '', 'num');
      cell(tr, e.status || e.level || '', e.status === 'error' ? 'bad' : '');
      cell(tr, e.message || '');
      cell(tr, Object.entries(e.fields).map(([k, v]) => `${k}=${v}`).join(' '));
      body.appendChild(tr);
    }
    state.eventsCursor = page.nextCursor;
    $('more-events').hidden = page.nextCursor === null;
  }

  // Wiring ------------------------------------------------------------------------------------
  async function refresh() {
    try {
      await loadStats();
      await Promise.all([loadDetail(), loadFindings(), loadFields()]);
      showError(null);
      document.body.dataset.loaded = String(Date.now());
    } catch (err) {
      showError(err);
      document.body.dataset.loaded = String(Date.now());
    }
  }

  function sortBy(key) {
    state.asc = state.sort === key ? !state.asc : key === 'name' || key === 'group';
    state.sort = key;
    renderFunctions();
  }
  for (const th of $('functions').tHead.rows[0].cells) th.addEventListener('click', () => sortBy(th.dataset.key));

  /** Offer the field keys of recent calls as group-by choices (keeping the current choice). */
  async function loadFields() {
    // Again only when the range or filter changed: a live refresh must not reset an open select.
    const scope = `${$('range').value}\n${$('filter').value}`;
    if (scope === state.fieldsScope) return;
    const body = await api('fields', { ...rangeParams(), filter: $('filter').value });
    state.fieldsScope = scope;
    const select = $('group');
    const keys = body.keys.map((k) => k.key);
    if (state.group !== '' && !keys.includes(state.group)) keys.push(state.group);
    const none = document.createElement('option');
    none.value = '';
    none.textContent = 'none';
    select.replaceChildren(
      none,
      ...keys.map((k) => {
        const o = document.createElement('option');
        o.value = k;
        o.textContent = k;
        return o;
      }),
    );
    select.value = state.group;
  }
  $('group').addEventListener('change', () => {
    state.group = $('group').value;
    refresh();
    loadEvents(false).catch(showError);
  });
  $('name-filter').addEventListener('input', renderFunctions);
  $('range').addEventListener('change', refresh);
  $('filter-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    refresh();
  });
  $('events-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    loadEvents(false).then(() => showError(null), showError);
  });
  $('more-events').addEventListener('click', () => loadEvents(true).catch(showError));
  setInterval(() => {
    if ($('live').checked && document.visibilityState === 'visible') refresh();
  }, 5000);

  api('info')
    .then((info) => {
      $('store').textContent = info.coordinator !== undefined ? `fleet: ${info.coordinator}` : (info.path ?? '');
    })
    .catch(showError);
  refresh();
  loadEvents(false).catch(showError);
})();
