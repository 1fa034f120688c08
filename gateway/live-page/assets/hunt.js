// The live hunt page: renders each snapshot the server pushes (Server-Sent Events) and
// keeps a chart of the rates. admin.js, on the admin page, adds the map through
// window.cairnLive.onSnapshot.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const fmt = (n) => (n === null || n === undefined ? 'n/a' : Number(n).toLocaleString('en-US'));
  const time = (t) => (t ? new Date(t).toISOString().slice(11, 19) + ' UTC' : '');
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  };
  const row = (cells) => {
    const tr = document.createElement('tr');
    for (const c of cells) tr.appendChild(c instanceof Node ? c : el('td', c));
    return tr;
  };
  const fill = (tbody, rows) => tbody.replaceChildren(...rows);

  const listeners = [];
  // The feed sends a snapshot only when it changed: a listener added after the first one
  // came (admin.js, when it loads later than the feed's first message) gets it at once.
  let lastSnapshot;
  const onSnapshot = (f) => {
    listeners.push(f);
    if (lastSnapshot) f(lastSnapshot);
  };
  window.cairnLive = { onSnapshot, fmt, time, el, row, fill, updates: 0 };

  const hunt = decodeURIComponent(location.pathname.split('/')[2] || '');
  $('hunt-id').textContent = hunt;
  document.title = `${hunt}: Cairn live hunt`;

  function render(s) {
    $('hunt-name').textContent = s.name || s.hunt;
    const status = $('status');
    status.textContent = !s.known ? 'waiting for the worker' : s.running ? 'running' : 'not running';
    status.className = 'badge ' + (s.running ? 'on' : 'off');
    $('closed-through').textContent = s.closedThrough ? `results through ${time(s.closedThrough)}` : '';
    $('windows-closed').textContent = fmt(s.windowsClosed);
    $('prizes-decided').textContent = fmt(s.prizes.decided);
    $('prizes-granted').textContent = fmt(s.prizes.granted);
    $('prizes-pending').textContent = fmt(s.prizes.pending);
    $('finders').textContent = fmt(s.finders);
    $('completions').textContent = fmt(s.completions);
    fill(document.querySelector('#leaderboard tbody'), s.leaderboard.map((r) => {
      const tr = row([r.rank, r.player, r.found, time(r.last), r.prizes.map((p) => `${p.count} ${p.item}`).join(', ')]);
      tr.dataset.player = r.player;
      tr.children[2].className = 'found';
      tr.children[4].className = 'prizes';
      return tr;
    }));
    $('leaderboard-empty').hidden = s.leaderboard.length > 0;
    const most = Math.max(1, ...s.treasures.map((t) => t.finders));
    fill(document.querySelector('#treasures tbody'), s.treasures.map((t) => {
      const bar = el('td');
      const b = el('div', undefined, 'bar');
      b.style.width = `${Math.round((100 * t.finders) / most)}%`;
      bar.appendChild(b);
      const tr = row([t.id, t.finders, bar]);
      tr.dataset.treasure = t.id;
      return tr;
    }));
    fill(document.querySelector('#online tbody'), s.online.map((o) => row([o.server, o.players])));
  }

  // Rates: [unix s, samples/s, events/s, records/s]; the last 10 minutes are kept.
  const KEEP_S = 600;
  const data = [[], [], [], []];
  let chart;
  function addRates(points) {
    const last = data[0].length ? data[0][data[0].length - 1] : 0;
    for (const p of points) {
      if (p[0] <= last && data[0].length) continue;
      for (let i = 0; i < 4; i++) data[i].push(p[i]);
    }
    const from = (data[0][data[0].length - 1] || 0) - KEEP_S;
    while (data[0].length && data[0][0] < from) for (const d of data) d.shift();
    const latest = data[0].length - 1;
    $('rate-samples').textContent = fmt(latest >= 0 ? data[1][latest] : null);
    $('rate-events').textContent = fmt(latest >= 0 ? data[2][latest] : null);
    $('rate-records').textContent = fmt(latest >= 0 ? data[3][latest] : null);
    if (!window.uPlot) return;
    if (!chart) {
      const box = $('chart');
      chart = new uPlot({
        width: Math.max(300, box.clientWidth),
        height: 220,
        series: [{}, { label: 'samples/s', stroke: '#4e9af1' }, { label: 'events/s', stroke: '#f1a94e' }, { label: 'records/s', stroke: '#6cc76c' }],
        axes: [{ stroke: '#aaa', grid: { stroke: '#333' } }, { stroke: '#aaa', grid: { stroke: '#333' } }],
      }, data, box);
      addEventListener('resize', () => chart.setSize({ width: Math.max(300, box.clientWidth), height: 220 }));
    } else {
      chart.setData(data);
    }
  }

  function connect() {
    const feed = $('feed');
    const source = new EventSource(location.pathname.replace(/\/$/, '') + '/live');
    source.onopen = () => { feed.textContent = '● live'; feed.className = 'feed on'; };
    source.onerror = () => { feed.textContent = '● reconnecting'; feed.className = 'feed off'; };
    source.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      addRates(msg.rates);
      if (!msg.snapshot) return;
      lastSnapshot = msg.snapshot;
      render(msg.snapshot);
      for (const f of listeners) f(msg.snapshot);
      window.cairnLive.updates++;
      document.body.dataset.updates = String(window.cairnLive.updates);
    };
  }
  connect();
})();
