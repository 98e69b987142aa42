/*
 * The chat page: posts to POST /api/v1/message on this node and shows this node's live stream
 * (GET /api/v1/stream, SSE, event `message`, id = commit_index). The browser resumes the stream with
 * Last-Event-ID after a reconnect; messages are kept in commit order and shown once each.
 */
(function () {
  'use strict';

  var CV = window.ClusterView;
  var el = CV.el;
  var CONV = 'general';
  var MAX_SHOWN = 500;

  var errorBanner = document.getElementById('error');
  var list = document.getElementById('messages');
  var streamState = document.getElementById('stream-state');
  var form = document.getElementById('post-form');
  var senderInput = document.getElementById('sender');
  var payloadInput = document.getElementById('payload');
  var sendButton = document.getElementById('send');
  var errors = { stream: null, cluster: null, post: null };

  function showErrors() {
    var msgs = [errors.post, errors.stream, errors.cluster].filter(Boolean);
    errorBanner.textContent = msgs.join(' · ');
    errorBanner.classList.toggle('show', msgs.length > 0);
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

  try {
    senderInput.value = localStorage.getItem('chat.sender') || '';
  } catch (_e) { /* storage disabled */ }

  // ---------------------------------------------------------------- the message list

  var shown = {}; // commit_index -> true
  var mine = {}; // msg_id -> true (posted from this page)

  function formatTs(ts) {
    var d = typeof ts === 'number' ? new Date(ts) : new Date(String(ts));
    return isNaN(d.getTime()) ? '' : d.toLocaleTimeString();
  }

  function addMessage(m) {
    var idx = Number(m.commit_index);
    if (!isFinite(idx) || shown[idx]) return;
    shown[idx] = true;
    var empty = document.getElementById('no-messages');
    if (empty) empty.remove();
    var li = el('li', { 'data-commit-index': idx, 'data-msg-id': m.msg_id, class: mine[m.msg_id] ? 'mine' : '' }, [
      el('span', { class: 'idx', text: '#' + idx, title: 'commit index' }),
      el('span', { class: 'sender', text: m.sender }),
      el('span', { class: 'ts', text: formatTs(m.ts), title: String(m.ts) }),
      el('span', { class: 'payload', text: typeof m.payload === 'string' ? m.payload : JSON.stringify(m.payload) }),
    ]);
    // Keep commit order even if something arrives out of order.
    var before = null;
    for (var c = list.lastElementChild; c; c = c.previousElementSibling) {
      if (Number(c.getAttribute('data-commit-index')) > idx) before = c;
      else break;
    }
    var atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.insertBefore(li, before);
    while (list.children.length > MAX_SHOWN) list.removeChild(list.firstElementChild);
    if (atBottom || mine[m.msg_id]) list.scrollTop = list.scrollHeight;
  }

  // ---------------------------------------------------------------- the stream

  var stream = new EventSource('/api/v1/stream?from=0');
  stream.onopen = function () {
    streamState.textContent = 'live from ' + location.host;
    errors.stream = null;
    showErrors();
  };
  stream.addEventListener('message', function (ev) {
    try {
      addMessage(JSON.parse(ev.data));
    } catch (_e) {
      /* not a message */
    }
  });
  stream.addEventListener('truncated', function (ev) {
    // The node no longer holds the messages this stream still needed (bounded retention).
    var through = '';
    try { through = JSON.parse(ev.data).evicted_through; } catch (_e) { /* keep it empty */ }
    list.insertBefore(el('li', { class: 'empty', text: 'Older messages' + (through !== '' ? ' (through #' + through + ')' : '') + ' are no longer kept by this node.' }), list.firstChild);
  });
  stream.onerror = function () {
    streamState.textContent = 'reconnecting…';
    errors.stream = 'Lost the message stream of ' + location.host + '; reconnecting (it resumes after the last message seen).';
    showErrors();
  };

  // ---------------------------------------------------------------- posting

  /** POSTs with one msg_id; retried on 503 / a lost connection, which stores the message once. */
  async function post(sender, payload) {
    var body = { conv_id: CONV, sender: sender, payload: payload, msg_id: newId() };
    mine[body.msg_id] = true;
    var last = '';
    for (var attempt = 0; attempt < 6; attempt++) {
      try {
        var res = await fetch('/api/v1/message', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body) });
        var text = await res.text();
        var json = null;
        try { json = text ? JSON.parse(text) : null; } catch (_e) { json = null; }
        if (res.ok) return json;
        last = 'HTTP ' + res.status + (json && (json.error || json.message) ? ': ' + [json.error, json.message].filter(Boolean).join(': ') : text ? ': ' + text.slice(0, 200) : '');
        if (res.status !== 503) break;
        await sleep((Number(res.headers.get('retry-after')) || 1) * 500);
      } catch (err) {
        last = 'network error: ' + (err && err.message ? err.message : String(err));
        await sleep(500);
      }
    }
    throw new Error(last);
  }

  form.addEventListener('submit', async function (ev) {
    ev.preventDefault();
    var sender = senderInput.value.trim();
    var payload = payloadInput.value;
    if (!sender || !payload.trim()) return;
    try { localStorage.setItem('chat.sender', sender); } catch (_e) { /* storage disabled */ }
    sendButton.disabled = true;
    try {
      var m = await post(sender, payload);
      payloadInput.value = '';
      errors.post = null;
      if (m && m.commit_index !== undefined) addMessage(m);
    } catch (err) {
      errors.post = 'Sending failed: ' + err.message;
    } finally {
      sendButton.disabled = false;
      showErrors();
      payloadInput.focus();
    }
  });

  // ---------------------------------------------------------------- cluster view and node switcher

  var nav = document.getElementById('nodes');
  CV.mount(document.getElementById('cluster'), {
    onStatus: function (s) {
      CV.renderNodes(nav, s);
      document.title = 'Chat · ' + s.memberId + ' (' + s.role + ')';
    },
    onError: function (msg) {
      errors.cluster = msg;
      showErrors();
    },
  });
})();
