// The admin page's map: one SVG per region with the treasures (circle of their radius,
// id and finders), the latest entries (green) and maxSpeed suspects (red), seen from
// above (x to the right, z down), plus the latest suspects as a table.
'use strict';
(function () {
  const live = window.cairnLive;
  const NS = 'http://www.w3.org/2000/svg';
  const SIZE = 320;
  const PAD = 24;
  const svg = (tag, attrs, text) => {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = text;
    return e;
  };

  function regionMap(region, treasures, entries) {
    const xs = [];
    const zs = [];
    for (const t of treasures) xs.push(t.at[0] - t.radius, t.at[0] + t.radius), zs.push(t.at[2] - t.radius, t.at[2] + t.radius);
    for (const e of entries) xs.push(e.at[0]), zs.push(e.at[2]);
    const minX = Math.min(...xs), maxX = Math.max(...xs), minZ = Math.min(...zs), maxZ = Math.max(...zs);
    const span = Math.max(maxX - minX, maxZ - minZ, 8);
    const k = (SIZE - 2 * PAD) / span;
    const px = (x) => PAD + (x - minX) * k;
    const pz = (z) => PAD + (z - minZ) * k;
    const box = live.el('div', undefined, 'map');
    box.dataset.region = region;
    box.appendChild(live.el('h3', `region ${region}`));
    const s = svg('svg', { width: SIZE, height: SIZE, viewBox: `0 0 ${SIZE} ${SIZE}` });
    s.appendChild(svg('rect', { x: 0, y: 0, width: SIZE, height: SIZE, fill: '#1b1e24' }));
    for (const t of treasures) {
      s.appendChild(svg('circle', { cx: px(t.at[0]), cy: pz(t.at[2]), r: Math.max(3, t.radius * k), fill: 'rgba(78,154,241,0.25)', stroke: '#4e9af1' }));
      // Labels on the side with more room, so none runs off the map.
      const left = px(t.at[0]) > SIZE / 2;
      s.appendChild(svg('text', { x: px(t.at[0]) + (left ? -6 : 6), y: pz(t.at[2]) - 6, fill: '#c9d1d9', 'font-size': 12, 'text-anchor': left ? 'end' : 'start' }, `${t.id} (${t.finders} found)`));
    }
    for (const e of entries) {
      const dot = svg('circle', { cx: px(e.at[0]), cy: pz(e.at[2]), r: e.suspect ? 4 : 2.5, fill: e.suspect ? '#f85149' : '#3fb950', class: e.suspect ? 'suspect' : 'entry' });
      dot.appendChild(svg('title', {}, `${e.player} on ${e.server}, ${live.time(e.t)}${e.suspect ? ': too fast (maxSpeed)' : ''}`));
      s.appendChild(dot);
    }
    box.appendChild(s);
    return box;
  }

  live.onSnapshot((snap) => {
    const regions = new Map();
    const of = (r) => regions.get(r) || (regions.set(r, { treasures: [], entries: [] }), regions.get(r));
    for (const t of snap.map.treasures) of(t.region).treasures.push(t);
    for (const e of snap.map.entries) of(e.region).entries.push(e);
    live.fill(document.getElementById('maps'), [...regions].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([r, v]) => regionMap(r, v.treasures, v.entries)));
    const suspects = snap.map.entries.filter((e) => e.suspect);
    document.getElementById('suspect-count').textContent = `${live.fmt(snap.suspects)} suspect entries in all`;
    live.fill(document.querySelector('#suspects tbody'), suspects.slice(0, 20).map((e) =>
      live.row([live.time(e.t), e.player, e.server, e.treasure, e.region, e.at.map((v) => v.toFixed(1)).join(', ')])));
  });
})();
