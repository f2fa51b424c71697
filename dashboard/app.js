// The laptime dashboard: plain browser JavaScript over the JSON API (/api/*). Every string from the
// store (function names, field values, messages) is written with textContent, never as HTML.
'use strict';

(() => {
  const token = new URLSearchParams(location.search).get('token');
  const $ = (id) => document.getElementById(id);
  const state = { rows: [], sort: 'p99', asc: false, selected: null, eventsCursor: null, seriesChart: null, histChart: null };

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
  };

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

  function renderFunctions() {
    const needle = $('name-filter').value.trim().toLowerCase();
    const rows = state.rows.filter((r) => r.name.toLowerCase().includes(needle));
    const key = state.sort;
    rows.sort((a, b) => {
      const x = a[key];
      const y = b[key];
      const o = typeof x === 'string' ? x.localeCompare(y) : (x ?? -Infinity) - (y ?? -Infinity);
      return state.asc ? o : -o;
    });
    const body = $('functions').tBodies[0];
    body.replaceChildren();
    for (const r of rows) {
      const tr = document.createElement('tr');
      tr.dataset.name = r.name;
      if (r.name === state.selected) tr.className = 'selected';
      for (const [, text, cls] of COLUMNS) cell(tr, text(r), cls);
      tr.addEventListener('click', () => select(r.name));
      body.appendChild(tr);
    }
    for (const th of $('functions').tHead.rows[0].cells) {
      th.classList.toggle('sorted', th.dataset.key === state.sort);
      th.classList.toggle('asc', th.dataset.key === state.sort && state.asc);
    }
  }

  async function loadStats() {
    const body = await api('stats', { ...rangeParams(), filter: $('filter').value });
    state.rows = body.rows;
    if (state.selected === null || !state.rows.some((r) => r.name === state.selected)) {
      state.selected = state.rows.length > 0 ? state.rows[0].name : null;
    }
    renderFunctions();
  }

  // Charts --------------------------------------------------------------------------------------
  function chartWidth(el) {
    return Math.max(320, el.clientWidth || 600);
  }

  async function loadDetail() {
    const name = state.selected;
    $('selected').textContent = name === null ? '(no function)' : name;
    if (name === null) return;
    const params = { ...rangeParams(), filter: $('filter').value, name };
    const [series, hist] = await Promise.all([api('series', params), api('histogram', params)]);
    const t = series.points.map((p) => p.time / 1000);
    const ms = (k) => series.points.map((p) => (p[k] === null ? null : p[k] / 1e6));
    const rate = series.points.map((p) => p.count / (series.bucketMs / 1000));
    const seriesData = [t, ms('p50'), ms('p90'), ms('p99'), rate];
    const el = $('series-chart');
    if (state.seriesChart) state.seriesChart.destroy();
    state.seriesChart = new uPlot(
      {
        width: chartWidth(el),
        height: 240,
        scales: { x: { time: true }, ms: { auto: true }, rate: { auto: true } },
        series: [
          {},
          { label: 'p50 ms', scale: 'ms', stroke: '#2e90fa', width: 1.5 },
          { label: 'p90 ms', scale: 'ms', stroke: '#f79009', width: 1.5 },
          { label: 'p99 ms', scale: 'ms', stroke: '#d92d20', width: 2 },
          { label: 'calls/s', scale: 'rate', stroke: '#98a2b3', fill: 'rgba(152,162,179,0.25)', paths: uPlot.paths.bars({ size: [0.8] }) },
        ],
        axes: [{}, { scale: 'ms', label: 'ms' }, { scale: 'rate', side: 1, label: 'calls/s', grid: { show: false } }],
      },
      seriesData,
      el,
    );
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
    const page = await api('events', params);
    const body = $('events').tBodies[0];
    if (!more) body.replaceChildren();
    for (const e of page.events) {
      const tr = document.createElement('tr');
      cell(tr, fmt.time(e.start));
      cell(tr, e.name);
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
      await Promise.all([loadDetail(), loadFindings()]);
      showError(null);
      document.body.dataset.loaded = String(Date.now());
    } catch (err) {
      showError(err);
      document.body.dataset.loaded = String(Date.now());
    }
  }

  for (const th of $('functions').tHead.rows[0].cells) {
    th.addEventListener('click', () => {
      const key = th.dataset.key;
      state.asc = state.sort === key ? !state.asc : key === 'name';
      state.sort = key;
      renderFunctions();
    });
  }
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
      $('store').textContent = info.path;
    })
    .catch(showError);
  refresh();
  loadEvents(false).catch(showError);
})();
