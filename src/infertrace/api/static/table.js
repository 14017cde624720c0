// A sortable data table whose rows may link somewhere.

import {clear, h} from './dom.js';

/**
 * columns: [{label, render(row) -> text|Node, sort?(row) -> number|string, align?, className?}]
 * rowHref(row) makes a row open that hash link (Ctrl/⌘-click: a new tab).
 * rowClass(row) adds classes; expand(row) -> Node toggles a detail row below.
 */
export function dataTable({columns, rows, rowHref, rowClass, expand, sortBy = null, descending = true}) {
  const table = h('table', {class: ['data', rowHref || expand ? 'clickable' : null]});
  const thead = h('thead');
  const tbody = h('tbody');
  table.append(thead, tbody);
  let order = {index: sortBy, descending};

  const headRow = () => {
    const tr = h('tr');
    columns.forEach((col, index) => {
      const sortable = typeof col.sort === 'function';
      const active = order.index === index;
      const th = h('th', {
        class: [col.align === 'right' ? 'num' : null, sortable ? 'sortable' : null, active ? 'sorted' : null],
        title: sortable ? 'Sort' : null,
        'aria-sort': active ? (order.descending ? 'descending' : 'ascending') : null,
      }, col.label, active ? h('span', {class: 'sort-mark'}, order.descending ? ' ▾' : ' ▴') : null);
      if (sortable) {
        th.addEventListener('click', () => {
          order = {index, descending: active ? !order.descending : true};
          draw();
        });
      }
      tr.append(th);
    });
    return tr;
  };

  const sorted = () => {
    if (order.index === null || order.index === undefined) return rows;
    const key = columns[order.index].sort;
    if (!key) return rows;
    const dir = order.descending ? -1 : 1;
    return [...rows].sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      if (ka === kb) return 0;
      if (ka === null || ka === undefined) return 1;
      if (kb === null || kb === undefined) return -1;
      return ka < kb ? -dir : dir;
    });
  };

  const draw = () => {
    clear(thead).append(headRow());
    clear(tbody);
    for (const row of sorted()) {
      const tr = h('tr', {class: rowClass ? rowClass(row) : null});
      for (const col of columns) {
        const value = col.render(row);
        tr.append(h('td', {class: [col.align === 'right' ? 'num' : null, col.className]}, value));
      }
      tbody.append(tr);
      if (rowHref) {
        const href = rowHref(row);
        tr.tabIndex = 0;
        const open = (event) => {
          if (event.target.closest('a')) return; // a link inside the row goes where it says
          if (event.ctrlKey || event.metaKey) window.open(href, '_blank', 'noopener');
          else window.location.hash = href;
        };
        tr.addEventListener('click', open);
        tr.addEventListener('keydown', (event) => {
          if (event.key === 'Enter') open(event);
        });
      } else if (expand) {
        tr.tabIndex = 0;
        let detail = null;
        const toggle = (event) => {
          if (event.target.closest('a')) return;
          if (detail) {
            detail.remove();
            detail = null;
            tr.classList.remove('expanded');
          } else {
            detail = h('tr', {class: 'detail-row'}, h('td', {colspan: columns.length}, expand(row)));
            tr.after(detail);
            tr.classList.add('expanded');
          }
        };
        tr.addEventListener('click', toggle);
        tr.addEventListener('keydown', (event) => {
          if (event.key === 'Enter') toggle(event);
        });
      }
    }
  };

  draw();
  return h('div', {class: 'table-wrap'}, table);
}
