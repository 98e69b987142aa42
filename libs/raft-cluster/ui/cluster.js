/*
 * Live cluster view, shared by the order and chat pages (kept identical in both public/ folders).
 *
 * Feeds: EventSource('/cluster/stream') of the node that served the page (its own status, its view
 * of the members), plus one EventSource per other member at `<member url>/cluster/stream` (the
 * stream answers with `Access-Control-Allow-Origin: *`), which gives each member's own role, term
 * and indexes. A member the browser cannot reach (stopped, or a URL only the peers can resolve, as in
 * docker compose) is shown with what this node knows about it.
 *
 *   ClusterView.mount(element, { onStatus(status) {}, onError(message|null) {} })
 *   ClusterView.renderNodes(navElement, status)   // the node switcher
 */
(function () {
  'use strict';

  var LOG_MAX = 30;

  // This script is served at <global prefix>/<routes.cluster>/ui/cluster.js: the stream is beside it,
  // wherever the app moved the cluster routes (every member serves them at the same path).
  var STREAM_PATH = (function () {
    var src = document.currentScript && document.currentScript.src;
    if (!src) return '/cluster/stream';
    return new URL(src).pathname.replace(/\/ui\/[^/]*$/, '/stream');
  })();

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (!Object.prototype.hasOwnProperty.call(attrs, k) || attrs[k] === undefined || attrs[k] === null) continue;
        if (k === 'text') e.textContent = String(attrs[k]);
        else if (k === 'class') e.className = attrs[k];
        else e.setAttribute(k, String(attrs[k]));
      }
    }
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return e;
  }

  var CLUSTER_PATH = STREAM_PATH.replace(/\/stream$/, '');
  var TOKEN_KEY = 'raft-cluster-admin-token';

  /**
   * POSTs a cluster change to the node that served the page, with the admin token: asked for once per
   * tab (sessionStorage), forgotten when the node answers 401. `done(null)` on success, else the reason.
   */
  function adminPost(path, body, done) {
    var token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) {
      token = window.prompt('Admin token for cluster changes (ADMIN_TOKEN; the cluster secret when it is unset):');
      if (!token) return done('no admin token given');
      sessionStorage.setItem(TOKEN_KEY, token);
    }
    fetch(CLUSTER_PATH + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: 'Bearer ' + token },
      body: JSON.stringify(body),
    })
      .then(function (res) {
        return res
          .json()
          .catch(function () {
            return {};
          })
          .then(function (b) {
            if (res.status === 401) sessionStorage.removeItem(TOKEN_KEY);
            done(res.ok ? null : (b.error || 'HTTP ' + res.status) + (b.message ? ': ' + b.message : ''));
          });
      })
      .catch(function (e) {
        done(String(e && e.message ? e.message : e));
      });
  }

  function badge(text, cls, extra) {
    var b = el('span', { class: 'badge ' + (cls || ''), text: text });
    if (extra) for (var k in extra) b.setAttribute(k, extra[k]);
    return b;
  }

  function fmt(v) {
    return v === null || v === undefined ? '—' : String(v);
  }

  function timeNow() {
    return new Date().toTimeString().slice(0, 8);
  }

  /** One EventSource on a member's /cluster/stream, with its latest status and connection state. */
  function memberFeed(url, onChange) {
    var feed = { url: url, state: 'connecting', status: null, since: Date.now() }; // state: connecting | live | down
    var source = new EventSource(url.replace(/\/+$/, '') + STREAM_PATH);
    function setState(state) {
      if (feed.state !== state) feed.since = Date.now();
      feed.state = state;
    }
    source.addEventListener('status', function (ev) {
      try {
        feed.status = JSON.parse(ev.data);
      } catch (_e) {
        return;
      }
      setState('live');
      onChange(feed);
    });
    source.onopen = function () {
      setState('live');
      onChange(feed);
    };
    source.onerror = function () {
      // EventSource retries by itself (the server asks for 1 s); until then the data is stale.
      setState('down');
      onChange(feed);
    };
    feed.close = function () {
      source.close();
    };
    return feed;
  }

  function mount(root, opts) {
    opts = opts || {};
    var local = memberFeed(location.origin, update); // the node that served this page
    var feeds = {}; // member id -> MemberFeed (other members)
    var lastLeader; // undefined until the first status
    var lastKnownLeader = null; // the last non-null leader
    var lastTerm = null;
    var log = [];

    var summary = el('div', { class: 'summary' });
    var tbody = el('tbody');
    var table = el('div', { class: 'table-wrap' }, [
      el('table', { id: 'members' }, [
        el('thead', null, [
          el('tr', null, [
            el('th', { text: 'member' }),
            el('th', { text: 'url' }),
            el('th', { text: 'role' }),
            el('th', { text: 'voter' }),
            el('th', { text: 'reachable', title: 'from this node (the peers), and from this browser' }),
            el('th', { class: 'num', text: 'term' }),
            el('th', { class: 'num', text: 'commit' }),
            el('th', { class: 'num', text: 'applied' }),
            el('th', { class: 'num', text: 'matchIndex', title: 'as the leader knows it' }),
            el('th', { class: 'num', text: 'last contact', title: 'as the leader knows it' }),
          ]),
        ]),
        tbody,
      ]),
    ]);
    var logList = el('ul', { class: 'log', id: 'cluster-log' });
    root.appendChild(summary);
    root.appendChild(table);
    root.appendChild(logList);
    render();

    function addLog(text) {
      log.unshift({ t: timeNow(), text: text });
      if (log.length > LOG_MAX) log.length = LOG_MAX;
      logList.textContent = '';
      log.forEach(function (l) {
        logList.appendChild(el('li', null, [el('time', { text: l.t }), l.text]));
      });
    }

    /** "make leader": a leadership transfer to `id`, asked of this page's node (it forwards to the leader). */
    function transferButton(id) {
      var b = el('button', { class: 'secondary small', type: 'button', 'data-transfer-to': id, text: 'make leader', title: 'POST leadership-transfer { to: ' + id + ' } (needs the admin token)' });
      b.addEventListener('click', function () {
        b.disabled = true;
        addLog('leadership transfer to ' + id + ' asked');
        adminPost('/leadership-transfer', { to: id }, function (err) {
          b.disabled = false;
          addLog(err === null ? 'leadership transfer to ' + id + ' done' : 'leadership transfer to ' + id + ' refused: ' + err);
        });
      });
      return b;
    }

    function syncFeeds(s) {
      var wanted = {};
      s.members.forEach(function (m) {
        if (m.id === s.memberId || !m.url) return;
        wanted[m.id] = m.url;
      });
      Object.keys(feeds).forEach(function (id) {
        if (wanted[id] !== feeds[id].url) {
          feeds[id].close();
          delete feeds[id];
        }
      });
      Object.keys(wanted).forEach(function (id) {
        if (!feeds[id]) feeds[id] = memberFeed(wanted[id], render);
      });
    }

    function update(feed) {
      var s = feed.status;
      if (feed.state === 'down') {
        if (opts.onError) opts.onError('Lost the connection to this node (' + location.host + '); retrying… The cluster view shows the last status it got.');
      } else if (opts.onError) {
        opts.onError(null);
      }
      if (s) {
        if (lastLeader === undefined) {
          addLog('connected to ' + s.memberId + ' (' + s.role + ', term ' + s.term + (s.leaderId ? ', leader ' + s.leaderId : ', no leader yet') + ')');
        } else if (s.leaderId !== lastLeader && s.leaderId) {
          addLog('term ' + s.term + ': leader is ' + s.leaderId + (lastKnownLeader && lastKnownLeader !== s.leaderId ? ' (was ' + lastKnownLeader + ')' : ''));
        } else if (s.leaderId !== lastLeader) {
          addLog('term ' + s.term + ': no leader (' + lastLeader + ' lost it); electing');
        } else if (s.term !== lastTerm) {
          addLog('term ' + s.term + ': ' + (s.leaderId ? 'leader ' + s.leaderId : 'election, no leader yet'));
        }
        if (s.leaderId) lastKnownLeader = s.leaderId;
        lastLeader = s.leaderId;
        lastTerm = s.term;
        syncFeeds(s);
        if (opts.onStatus) opts.onStatus(s);
      }
      render();
    }

    /** The freshest status of a member as the member itself reports it, or null. */
    function ownStatus(id, s) {
      if (id === s.memberId) return local.status;
      var f = feeds[id];
      return f && f.status ? f.status : null;
    }

    function render() {
      var s = local.status;
      summary.textContent = '';
      tbody.textContent = '';
      if (!s) {
        summary.appendChild(el('div', { class: 'muted', text: local.state === 'down' ? 'Cannot reach ' + location.host + ' (retrying)…' : 'Connecting to ' + location.host + '…' }));
        return;
      }
      var leaderStatus = s.isLeader ? s : s.leaderId && feeds[s.leaderId] && feeds[s.leaderId].state === 'live' ? feeds[s.leaderId].status : null;
      var leaderMembers = {};
      if (leaderStatus && leaderStatus.isLeader) {
        leaderStatus.members.forEach(function (m) {
          leaderMembers[m.id] = m;
        });
      }

      var kv = function (k, v, attrs) {
        return el('div', { class: 'kv' }, [el('span', { class: 'k', text: k }), el('span', Object.assign({ class: 'v', text: v }, attrs || {}))]);
      };
      summary.appendChild(kv('this node', s.memberId, { id: 'self-id' }));
      summary.appendChild(
        el('div', { class: 'kv' }, [el('span', { class: 'k', text: 'role' }), el('span', { class: 'v' }, [badge(s.role, s.role, { id: 'self-role' })])]),
      );
      summary.appendChild(kv('leader', s.leaderId || 'none', { id: 'leader', 'data-leader': s.leaderId || '' }));
      summary.appendChild(kv('term', s.term, { id: 'term' }));
      summary.appendChild(kv('commit / applied', s.commitIndex + ' / ' + s.lastApplied));
      summary.appendChild(kv('log / snapshot', s.lastLogIndex + ' / ' + s.snapshotIndex));
      summary.appendChild(
        el('div', { class: 'kv' }, [
          el('span', { class: 'k', text: 'stream' }),
          el('span', { class: 'v' }, [local.state === 'live' ? badge('live', 'ok') : badge('reconnecting', 'bad')]),
        ]),
      );

      function peersKnown(m) {
        return s.role === 'leader' || m.id === s.leaderId;
      }

      s.members.forEach(function (m) {
        var self = m.id === s.memberId;
        var feed = self ? local : feeds[m.id];
        var own = ownStatus(m.id, s);
        var live = !!feed && feed.state === 'live' && !!own;
        var lm = leaderMembers[m.id];

        var role;
        if (live) role = badge(own.role, own.role);
        else if (s.leaderId === m.id) role = badge('leader?', 'warn', { title: 'leader as ' + s.memberId + ' knows it; the browser cannot reach it' });
        else if (!m.reachable && !self && peersKnown(m)) role = badge('unreachable', 'bad', { title: 'neither ' + s.memberId + ' nor the browser reaches this member' });
        else role = badge('unknown', '', { title: 'the browser cannot reach this member' });

        // Only the leader talks to every member: a follower knows the leader's reachability, not the
        // other followers', so it shows those as unknown rather than as a fault.
        var reach = el('span', null, [
          el('span', { class: 'dot ' + (self || m.reachable ? 'ok' : peersKnown(m) ? 'bad' : '') }),
          self ? 'self' : m.reachable ? 'peers: yes' : peersKnown(m) ? 'peers: no' : 'peers: n/a',
        ]);
        var browser = self ? null : !m.url ? badge('no url', 'warn') : feed && feed.state === 'live' ? badge('browser: yes', 'ok') : feed && feed.state === 'down' ? badge('browser: no', 'bad') : badge('browser: …', '');

        var row = el('tr', { class: (self ? 'self ' : '') + (live ? '' : 'stale'), 'data-member': m.id, 'data-role': live ? own.role : '' }, [
          el('td', null, [el('strong', { text: m.id }), self ? ' ' : null, self ? badge('you', 'you') : null]),
          el('td', { class: 'mono' }, [m.url ? el('a', { href: m.url.replace(/\/+$/, '') + '/', text: m.url }) : '—']),
          el('td', null, [role]),
          el('td', null, [m.voter ? 'voter' : badge('learner', 'warn'), m.voter && m.id !== s.leaderId ? ' ' : null, m.voter && m.id !== s.leaderId ? transferButton(m.id) : null]),
          el('td', null, [reach, browser ? ' ' : null, browser]),
          el('td', { class: 'num', text: live ? own.term : '—' }),
          el('td', { class: 'num', text: live ? own.commitIndex : '—' }),
          el('td', { class: 'num', text: live ? own.lastApplied : '—' }),
          el('td', { class: 'num', text: lm ? fmt(lm.matchIndex) : '—' }),
          el('td', { class: 'num', text: lm && lm.lastContactMs !== null ? lm.lastContactMs + ' ms' : '—' }),
        ]);
        tbody.appendChild(row);
      });
    }

    return {
      status: function () {
        return local.status;
      },
      close: function () {
        local.close();
        Object.keys(feeds).forEach(function (id) {
          feeds[id].close();
        });
      },
    };
  }

  /** Links to every member's page (the node switcher); the current node is highlighted. */
  function renderNodes(nav, s) {
    nav.textContent = '';
    nav.appendChild(el('span', { class: 'label', text: 'nodes:' }));
    s.members.forEach(function (m) {
      var current = m.id === s.memberId;
      var role = m.id === s.leaderId ? 'leader' : m.voter ? '' : 'learner';
      var attrs = { class: current ? 'current' : '', 'data-member': m.id, title: m.url || 'no URL known' };
      if (m.url && !current) attrs.href = m.url.replace(/\/+$/, '') + '/';
      if (current) attrs['aria-current'] = 'page';
      nav.appendChild(el('a', attrs, [m.id, role ? el('span', { class: 'role', text: role }) : null]));
    });
  }

  window.ClusterView = { mount: mount, renderNodes: renderNodes, el: el, badge: badge };
})();
