/* The order page: product and order forms against this node's API, plus the live cluster view. */
(function () {
  'use strict';

  var CV = window.ClusterView;
  var el = CV.el;
  var errorBanner = document.getElementById('error');
  var results = document.getElementById('results');
  var streamError = null;
  var requestError = null;

  function showErrors() {
    var msg = streamError || requestError;
    errorBanner.textContent = msg || '';
    errorBanner.classList.toggle('show', !!msg);
  }

  function newId() {
    if (window.crypto && typeof window.crypto.randomUUID === 'function') return window.crypto.randomUUID();
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
  }

  function sleep(ms) {
    return new Promise(function (r) { setTimeout(r, ms); });
  }

  /**
   * One API call. Commands carry an Idempotency-Key, so retrying them after a 503 (no leader yet,
   * the node is stepping down) or a lost connection applies them at most once.
   */
  async function api(method, path, body) {
    var headers = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET') headers['idempotency-key'] = newId();
    var answer;
    for (var attempt = 0; ; attempt++) {
      try {
        var res = await fetch(path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body) });
        var text = await res.text();
        var json = null;
        try { json = text ? JSON.parse(text) : null; } catch (_e) { json = null; }
        answer = { ok: res.ok, status: res.status, json: json, text: text };
        if (res.status === 503 && attempt < 4) {
          var after = Number(res.headers.get('retry-after')) || 1;
          await sleep(Math.min(after, 2) * 1000);
          continue;
        }
      } catch (err) {
        if (attempt < 2) { await sleep(500); continue; }
        answer = { ok: false, status: 0, json: null, text: 'network error: ' + (err && err.message ? err.message : String(err)) };
      }
      break;
    }
    record(method, path, answer);
    return answer;
  }

  function describe(answer) {
    if (answer.json && typeof answer.json === 'object' && (answer.json.error || answer.json.message)) {
      return (answer.json.error ? answer.json.error + ': ' : '') + (answer.json.message || '');
    }
    return answer.text || 'HTTP ' + answer.status;
  }

  function record(method, path, answer) {
    var li = el('li', { class: answer.ok ? '' : 'error' }, [
      el('div', { class: 'req' }, [
        CV.badge(answer.status ? String(answer.status) : 'failed', answer.ok ? 'ok' : 'bad'),
        el('span', { text: method + ' ' + path }),
        el('span', { class: 'muted', text: new Date().toTimeString().slice(0, 8) }),
      ]),
      el('pre', { text: answer.json ? JSON.stringify(answer.json, null, 2) : answer.text }),
    ]);
    results.insertBefore(li, results.firstChild);
    while (results.children.length > 8) results.removeChild(results.lastChild);
    requestError = answer.ok || answer.status === 404 && method === 'GET' ? null : method + ' ' + path + ' failed (' + (answer.status || 'no answer') + '): ' + describe(answer);
    showErrors();
  }

  function fields(form) {
    var out = {};
    new FormData(form).forEach(function (v, k) { out[k] = String(v).trim(); });
    return out;
  }

  function fillTable(tbody, rows, cols, empty) {
    tbody.textContent = '';
    if (rows.length === 0) {
      tbody.appendChild(el('tr', null, [el('td', { colspan: cols, class: 'muted', text: empty })]));
      return;
    }
    rows.forEach(function (r) { tbody.appendChild(r); });
  }

  // ---------------------------------------------------------------- products

  var productsBody = document.querySelector('#products tbody');
  function productRow(p) {
    return el('tr', { 'data-product': p.id }, [
      el('td', null, [el('strong', { text: p.id })]),
      el('td', { text: p.name || '—' }),
      el('td', { class: 'num', text: p.stock }),
      el('td', { class: 'num', text: p.reserved === undefined ? '—' : p.reserved }),
    ]);
  }
  async function refreshProducts() {
    try {
      var res = await fetch('/products', { headers: { accept: 'application/json' } });
      if (!res.ok) throw new Error('GET /products answered ' + res.status);
      var body = await res.json();
      var list = Array.isArray(body) ? body : body.products || [];
      fillTable(productsBody, list.map(productRow), 4, 'No products yet: set the stock of one.');
    } catch (err) {
      fillTable(productsBody, [], 4, 'Could not list products: ' + (err && err.message ? err.message : String(err)));
    }
  }

  document.getElementById('product-form').addEventListener('submit', async function (ev) {
    ev.preventDefault();
    var f = fields(ev.target);
    var body = { stock: Number(f.stock) };
    if (f.name) body.name = f.name;
    var a = await api('PUT', '/products/' + encodeURIComponent(f.id), body);
    if (a.ok) refreshProducts();
  });

  document.getElementById('lookup-form').addEventListener('submit', async function (ev) {
    ev.preventDefault();
    var f = fields(ev.target);
    var q = f.consistency === 'linearizable' ? '?consistency=linearizable' : '';
    await api('GET', '/products/' + encodeURIComponent(f.id) + q);
  });

  // ---------------------------------------------------------------- live stock

  /*
   * EventSource sends Accept: text/event-stream, so GET /products/:id answers a live query: the
   * product now, then one event after each change applied on this node; each event's id is the
   * applied index it reflects. After a dropped connection the browser reconnects by itself with
   * Last-Event-ID, and the node sends the current value only if it is newer than that.
   */
  var liveBody = document.querySelector('#live-stock tbody');
  var watched = {};

  function watchProduct(id) {
    if (watched[id]) return;
    if (Object.keys(watched).length === 0) liveBody.textContent = '';
    var cells = {
      stock: el('td', { class: 'num', text: '…' }),
      reserved: el('td', { class: 'num', text: '…' }),
      index: el('td', { class: 'num mono', text: '…' }),
      state: el('td', null, [CV.badge('connecting', 'warn')]),
    };
    var stop = el('button', { class: 'secondary', type: 'button', text: 'Stop' });
    var row = el('tr', { 'data-live': id }, [el('td', null, [el('strong', { text: id })]), cells.stock, cells.reserved, cells.index, cells.state, el('td', null, [stop])]);
    liveBody.appendChild(row);
    var source = new EventSource('/products/' + encodeURIComponent(id));
    watched[id] = source;
    function setState(text, kind) {
      cells.state.textContent = '';
      cells.state.appendChild(CV.badge(text, kind));
    }
    source.onmessage = function (ev) {
      var p = JSON.parse(ev.data);
      cells.stock.textContent = p.stock;
      cells.reserved.textContent = p.reserved;
      cells.index.textContent = ev.lastEventId;
      setState('live', 'ok');
    };
    source.addEventListener('query-error', function (ev) {
      var e = JSON.parse(ev.data);
      setState(e.error || 'error', 'bad');
      source.close();
    });
    source.onerror = function () {
      // CLOSED: the node answered an error instead of a stream (404 for an unknown product); otherwise the browser retries.
      setState(source.readyState === EventSource.CLOSED ? 'not found or refused' : 'reconnecting', source.readyState === EventSource.CLOSED ? 'bad' : 'warn');
    };
    stop.addEventListener('click', function () {
      source.close();
      delete watched[id];
      liveBody.removeChild(row);
    });
  }

  document.getElementById('watch-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var f = fields(ev.target);
    if (f.id) watchProduct(f.id);
  });

  // ---------------------------------------------------------------- orders

  var ordersBody = document.querySelector('#orders tbody');
  var lastListQuery = '';

  function orderRow(o) {
    var cancel = null;
    if (o.status !== 'Cancelled') {
      cancel = el('button', { class: 'secondary', type: 'button', text: 'Cancel' });
      cancel.addEventListener('click', async function () {
        cancel.disabled = true;
        var a = await api('POST', '/orders/' + encodeURIComponent(o.orderId) + '/cancel');
        if (a.ok) { refreshOrders(); refreshProducts(); } else cancel.disabled = false;
      });
    }
    return el('tr', { 'data-order': o.orderId }, [
      el('td', { class: 'mono', text: String(o.orderId).slice(0, 8), title: o.orderId }),
      el('td', { text: o.productId }),
      el('td', { class: 'num', text: o.quantity }),
      el('td', { text: o.customerId || '—' }),
      el('td', null, [CV.badge(o.status, o.status === 'Cancelled' ? 'warn' : 'ok')]),
      el('td', null, [cancel]),
    ]);
  }

  async function refreshOrders() {
    try {
      var res = await fetch('/orders' + lastListQuery, { headers: { accept: 'application/json' } });
      if (!res.ok) throw new Error('GET /orders answered ' + res.status);
      var body = await res.json();
      var list = Array.isArray(body) ? body : body.orders || [];
      fillTable(ordersBody, list.slice(-50).reverse().map(orderRow), 6, 'No orders match.');
    } catch (err) {
      fillTable(ordersBody, [], 6, 'Could not list orders: ' + (err && err.message ? err.message : String(err)));
    }
  }

  document.getElementById('order-form').addEventListener('submit', async function (ev) {
    ev.preventDefault();
    var f = fields(ev.target);
    var body = { productId: f.productId, quantity: Number(f.quantity) };
    if (f.customerId) body.customerId = f.customerId;
    await api('POST', '/orders', body);
    refreshOrders();
    refreshProducts();
  });

  document.getElementById('orders-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var f = fields(ev.target);
    var q = new URLSearchParams();
    if (f.productId) q.set('productId', f.productId);
    if (f.customerId) q.set('customerId', f.customerId);
    lastListQuery = q.toString() ? '?' + q.toString() : '';
    refreshOrders();
  });

  // ---------------------------------------------------------------- cluster

  var nav = document.getElementById('nodes');
  var lastApplied = -1;
  var refreshTimer = null;
  /** At most one refresh of the tables per second, however fast the log moves. */
  function scheduleRefresh() {
    if (refreshTimer !== null) return;
    refreshTimer = setTimeout(function () {
      refreshTimer = null;
      refreshProducts();
      refreshOrders();
    }, 1000);
  }
  CV.mount(document.getElementById('cluster'), {
    onStatus: function (s) {
      CV.renderNodes(nav, s);
      document.title = 'Orders · ' + s.memberId + ' (' + s.role + ')';
      // Writes applied here (from any node) show up without a reload.
      if (s.lastApplied !== lastApplied) {
        lastApplied = s.lastApplied;
        scheduleRefresh();
      }
    },
    onError: function (msg) {
      streamError = msg;
      showErrors();
    },
  });
})();
