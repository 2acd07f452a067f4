// Flotilla's dashboard: OneFlow's Sunstone screens (service templates,
// instantiate with user inputs, services) and what Sunstone never showed
// (the roles' dependency graph, the elasticity timeline, policy simulate,
// networks with leases, plugins).
//
// Plain JavaScript, no build step: the server embeds this file as it is.
// Served under a Content-Security-Policy without 'unsafe-inline', so every
// element is built with the DOM API below; text from the API only ever
// reaches the page through textContent or attribute values, never HTML.
(function () {
  'use strict';

  // ---------------------------------------------------------------- DOM

  // h('tag.class#id', {attr: value, on: {event: fn}}, child, [children], …)
  // Children may be strings (text nodes), nodes, arrays, or null (skipped).
  function h(spec, attrs) {
    const m = /^([a-z0-9]+)((?:[.#][A-Za-z0-9_-]+)*)$/.exec(spec);
    const tag = m ? m[1] : spec;
    const svg = SVG_TAGS.has(tag);
    const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
    if (m && m[2]) {
      for (const part of m[2].match(/[.#][A-Za-z0-9_-]+/g)) {
        if (part[0] === '.') el.classList.add(part.slice(1));
        else el.id = part.slice(1);
      }
    }
    let rest = 2;
    if (attrs === undefined || attrs === null || typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs)) {
      rest = 1;
    } else {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'on') {
          for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
        } else if (k === 'class') {
          for (const c of String(v).split(/\s+/).filter(Boolean)) el.classList.add(c);
        } else if (k === 'value' && !svg) {
          el.value = v;
        } else if ((k === 'checked' || k === 'selected' || k === 'disabled' || k === 'multiple' || k === 'required' || k === 'readOnly') && !svg) {
          el[k] = !!v;
        } else if (k === 'text') {
          el.textContent = String(v);
        } else {
          el.setAttribute(k, v === true ? '' : String(v));
        }
      }
    }
    for (let i = rest; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }

  function append(el, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) {
      for (const c of child) append(el, c);
    } else if (child instanceof Node) {
      el.appendChild(child);
    } else {
      el.appendChild(document.createTextNode(String(child)));
    }
  }

  // Replace an element's children, with h's rules for what a child may be.
  function fill(el, ...children) {
    el.replaceChildren();
    append(el, children);
    return el;
  }

  const SVG_TAGS = new Set(['svg', 'g', 'rect', 'line', 'path', 'polyline', 'circle', 'text', 'title', 'defs', 'marker', 'tspan', 'desc']);

  // Unique ids for label/for pairs.
  let idSeq = 0;
  function uid(prefix) {
    idSeq += 1;
    return (prefix || 'f') + '-' + idSeq;
  }

  // A labelled control: label above, control, optional hint. `control` is
  // an element; its id is set when it has none.
  function field(label, control, hint, extraClass) {
    if (!control.id) control.id = uid('f');
    const hintEl = hint ? h('span.hint', {id: control.id + '-hint'}, hint) : null;
    if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
    return h('div.field' + (extraClass ? '.' + extraClass : ''), h('label', {for: control.id}, label), control, hintEl);
  }

  function checkboxField(label, control, hint) {
    if (!control.id) control.id = uid('c');
    const hintEl = hint ? h('span.hint', {id: control.id + '-hint'}, hint) : null;
    if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
    return h('div.field.check', control, h('label', {for: control.id}, label), hintEl);
  }

  function button(label, onClick, cls, attrs) {
    return h('button', Object.assign({type: 'button', class: cls || '', on: {click: onClick}}, attrs || {}), label);
  }

  function select(options, value, attrs) {
    const el = h('select', attrs || {});
    for (const o of options) {
      const [v, label] = Array.isArray(o) ? o : [o, o];
      el.appendChild(h('option', {value: v, selected: String(v) === String(value)}, label));
    }
    return el;
  }

  function time(epoch) {
    if (epoch === undefined || epoch === null || epoch === '') return '';
    const d = new Date(Number(epoch) * 1000);
    if (isNaN(d)) return String(epoch);
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  }

  function clockTime(epoch) {
    const d = new Date(Number(epoch) * 1000);
    return d.toISOString().slice(11, 19);
  }

  // A pool's items: OneFlow answers a single item as an object and none as
  // an empty pool.
  function items(pool, key) {
    if (!pool) return [];
    const v = pool[key];
    if (Array.isArray(v)) return v;
    return v ? [v] : [];
  }

  // ---------------------------------------------------------------- API

  const session = {user: null, csrf: null};

  class ApiError extends Error {
    constructor(status, message, fields) {
      super(message);
      this.status = status;
      this.fields = fields || [];
    }
  }

  // One call to the API with the session cookie. Changes carry the CSRF
  // token; a 401 means the session ended, so the sign-in form comes back.
  async function api(method, path, body) {
    // X-Requested-With: the server leaves the Basic challenge off a 401 to
    // this page, which a browser would answer with a password prompt.
    const headers = {'Accept': 'application/json', 'X-Requested-With': 'XMLHttpRequest'};
    if (method !== 'GET' && method !== 'HEAD') {
      headers['X-CSRF-Token'] = session.csrf || '';
      headers['Content-Type'] = 'application/json';
    }
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        credentials: 'same-origin',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, 'The server does not answer (' + e.message + ')');
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (e) {
        data = {error: text};
      }
    }
    if (!response.ok) {
      const err = data && data.error;
      const message = typeof err === 'string' ? err : (err && err.message) || response.statusText || ('HTTP ' + response.status);
      const e = new ApiError(response.status, message, (data && data.fields) || []);
      if (response.status === 401 && path !== '/ui/session') {
        session.user = null;
        session.csrf = null;
        showSignIn('Your session ended: sign in again.');
      }
      throw e;
    }
    return data;
  }

  // ---------------------------------------------------------------- states

  const SERVICE_STATES = ['PENDING', 'DEPLOYING', 'RUNNING', 'UNDEPLOYING', 'WARNING', 'DONE',
    'FAILED_UNDEPLOYING', 'FAILED_DEPLOYING', 'SCALING', 'FAILED_SCALING', 'COOLDOWN',
    'DEPLOYING_NETS', 'UNDEPLOYING_NETS', 'FAILED_DEPLOYING_NETS', 'FAILED_UNDEPLOYING_NETS', 'HOLD'];
  const ROLE_STATES = ['PENDING', 'DEPLOYING', 'RUNNING', 'UNDEPLOYING', 'WARNING', 'DONE',
    'FAILED_UNDEPLOYING', 'FAILED_DEPLOYING', 'SCALING', 'FAILED_SCALING', 'COOLDOWN', 'HOLD'];

  function stateName(table, n) {
    const i = Number(n);
    return table[i] || (n === undefined ? 'UNKNOWN' : String(n));
  }

  // The colour family of a state: its badge and its graph node.
  function stateClass(name) {
    if (name.startsWith('FAILED')) return 'st-failed';
    if (name === 'RUNNING') return 'st-running';
    if (name === 'DONE') return 'st-done';
    if (name === 'WARNING' || name === 'HOLD' || name === 'UNKNOWN') return 'st-warning';
    return 'st-busy';
  }

  function badge(name) {
    return h('span.badge.' + stateClass(name), name);
  }

  // ---------------------------------------------------------------- rights

  // OpenNebula's permission bits: may the signed-in user do `what` ('U'
  // use, 'M' manage, 'A' admin) on a document? The server checks again:
  // this only decides which buttons to show.
  function may(doc, what) {
    const u = session.user;
    if (!u || !doc) return false;
    if (u.admin) return true;
    const p = doc.PERMISSIONS || {};
    const bit = (who) => String(p[who + '_' + what]) === '1';
    if (String(doc.UID) === String(u.id)) return bit('OWNER');
    if (String(doc.GID) === String(u.gid)) return bit('GROUP');
    return bit('OTHER');
  }

  // ---------------------------------------------------------------- errors

  // An API error shown next to the form it answers: the message (which
  // names the field), each field's reason, and the inputs it names marked
  // invalid and described by it.
  function showError(box, err, form) {
    box.replaceChildren();
    box.hidden = false;
    if (form) {
      for (const el of form.querySelectorAll('[aria-invalid="true"]')) {
        el.removeAttribute('aria-invalid');
        const note = document.getElementById(el.id + '-err');
        if (note) note.remove();
      }
    }
    let fields = (err && err.fields) || [];
    // A refusal of one field without the `fields` list ("load: not a
    // shape"): marked at its field too, when the form has it.
    const one = !fields.length && form && /^([A-Za-z_][\w.[\]]*): (.+)$/.exec((err && err.message) || '');
    if (one && form.querySelector('[data-field="' + cssEscape(one[1]) + '"]')) fields = [{field: one[1], reason: one[2]}];
    box.appendChild(h('p.error-title', statusWords(err) + (fields.length ? '' : ': ' + err.message)));
    if (fields.length) {
      const list = h('ul');
      for (const f of fields) list.appendChild(h('li', h('code', f.field), ': ' + f.reason));
      box.appendChild(list);
    }
    if (form) {
      let first = null;
      for (const f of fields) {
        const el = form.querySelector('[data-field="' + cssEscape(f.field) + '"]');
        if (!el) continue;
        el.setAttribute('aria-invalid', 'true');
        const note = h('span.field-error', {id: el.id + '-err'}, f.reason);
        el.insertAdjacentElement('afterend', note);
        const described = (el.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && !x.endsWith('-err'));
        described.push(note.id);
        el.setAttribute('aria-describedby', described.join(' '));
        if (!first) first = el;
      }
    }
    box.focus();
  }

  function clearError(box, form) {
    box.hidden = true;
    box.replaceChildren();
    if (form) {
      for (const el of form.querySelectorAll('[aria-invalid="true"]')) {
        el.removeAttribute('aria-invalid');
        const note = document.getElementById(el.id + '-err');
        if (note) note.remove();
      }
    }
  }

  function statusWords(err) {
    switch (err && err.status) {
      case 400: return 'Refused';
      case 403: return 'Not allowed';
      case 404: return 'Not found';
      case 409: return 'Not now';
      case 429: return 'Too many attempts';
      case 0: return 'No answer';
      default: return 'Error' + (err && err.status ? ' ' + err.status : '');
    }
  }

  function cssEscape(s) {
    return window.CSS && CSS.escape ? CSS.escape(s) : s.replace(/["\\]/g, '\\$&');
  }

  function errorBox() {
    return h('div.error', {role: 'alert', tabindex: '-1', hidden: true});
  }

  // A short-lived message at the top of the page ("Scaling web to 3").
  function notify(text) {
    const area = document.getElementById('notice');
    if (!area) return;
    area.textContent = text;
  }

  // ---------------------------------------------------------------- views

  // The current view's timers and cleanup, dropped when the route changes.
  let current = {cleanups: []};

  function every(ms, fn) {
    let stopped = false;
    let timer = null;
    const tick = async () => {
      if (stopped) return;
      try {
        // A tab in the background polls nothing.
        if (!document.hidden) await fn();
      } catch (e) {
        // The view shows its own errors; a failed poll is retried.
      }
      if (!stopped) timer = setTimeout(tick, ms);
    };
    timer = setTimeout(tick, ms);
    current.cleanups.push(() => {
      stopped = true;
      clearTimeout(timer);
    });
  }

  function mainEl() {
    return document.getElementById('main');
  }

  function page(title, ...children) {
    document.title = title + ' · Flotilla';
    const main = mainEl();
    fill(main, h('p#notice.notice', {role: 'status', 'aria-live': 'polite'}), h('h1', title), children);
    return main;
  }

  // ---------------------------------------------------------------- sign-in

  function showSignIn(message) {
    for (const c of current.cleanups) c();
    current = {cleanups: []};
    document.getElementById('top').hidden = true;
    document.title = 'Sign in · Flotilla';
    const user = h('input', {name: 'username', autocomplete: 'username', required: true});
    const pass = h('input', {name: 'password', type: 'password', autocomplete: 'current-password', required: true});
    const box = errorBox();
    const submit = h('button', {type: 'submit'}, 'Sign in');
    const form = h('form.signin', {'aria-labelledby': 'signin-title'},
      h('h1#signin-title', 'Sign in to Flotilla'),
      message ? h('p.hint', message) : null,
      field('Username', user),
      field('Password', pass),
      box,
      submit);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      submit.disabled = true;
      clearError(box);
      try {
        const s = await api('POST', '/ui/session', {username: user.value, password: pass.value});
        session.user = s.user;
        session.csrf = s.csrf;
        signedIn();
      } catch (e) {
        showError(box, e.status === 401 ? new ApiError(401, 'Wrong username or password') : e);
        pass.value = '';
      } finally {
        submit.disabled = false;
      }
    });
    mainEl().replaceChildren(form);
    user.focus();
  }

  function signedIn() {
    document.getElementById('top').hidden = false;
    const u = session.user;
    document.getElementById('who').textContent = u.name + (u.group ? ' (' + u.group + ')' : '');
    if (!location.hash || location.hash === '#' || location.hash === '#/') location.hash = '#/services';
    else route();
  }

  async function signOut() {
    try {
      await api('DELETE', '/ui/session');
    } catch (e) {
      // Signed out either way: the cookie is dropped or already invalid.
    }
    session.user = null;
    session.csrf = null;
    history.replaceState(null, '', '#/services');
    showSignIn('Signed out.');
  }

  // ---------------------------------------------------------------- router

  const routes = [
    [/^#\/services$/, viewServices],
    [/^#\/services\/(\d+)$/, viewService],
    [/^#\/templates$/, viewTemplates],
    [/^#\/templates\/new$/, (m) => viewTemplateForm(null)],
    [/^#\/templates\/(\d+)$/, viewTemplate],
    [/^#\/templates\/(\d+)\/edit$/, (m) => viewTemplateForm(m[1])],
    [/^#\/templates\/(\d+)\/instantiate$/, viewInstantiate],
    [/^#\/networks$/, viewNetworks],
    [/^#\/networks\/(\d+)$/, viewNetwork],
    [/^#\/plugins$/, viewPlugins],
  ];

  function route() {
    if (!session.user) return;
    for (const c of current.cleanups) c();
    current = {cleanups: []};
    const hash = location.hash || '#/services';
    for (const a of document.querySelectorAll('[data-nav]')) {
      const on = hash.startsWith('#/' + a.dataset.nav);
      if (on) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    for (const [re, view] of routes) {
      const m = re.exec(hash);
      if (m) {
        Promise.resolve(view(m)).catch((e) => failed(e));
        mainEl().focus({preventScroll: true});
        return;
      }
    }
    page('Not found', h('p', 'Nothing here. ', h('a', {href: '#/services'}, 'Go to the services.')));
  }

  // A view that could not load its data: say why, offer nothing else.
  function failed(e) {
    if (e instanceof ApiError && e.status === 401) return;
    const box = errorBox();
    page(statusWords(e), box);
    showError(box, e.status === 404 || e.status === 403 ? new ApiError(e.status, 'It does not exist, or it is not yours to see.') : e);
  }

  // ---------------------------------------------------------------- services

  function serviceBody(doc) {
    return (doc && doc.TEMPLATE && doc.TEMPLATE.BODY) || {};
  }

  async function viewServices() {
    const table = h('table.list', h('caption.sr-only', 'Services'),
      h('thead', h('tr', ['ID', 'Name', 'Owner', 'Group', 'State', 'Roles', 'Started'].map((t) => h('th', {scope: 'col'}, t)))));
    const tbody = h('tbody');
    table.appendChild(tbody);
    const empty = h('p.empty', {hidden: true}, 'No services you may see.');
    const box = errorBox();
    const create = await createServicePicker();
    page('Services', create, box, table, empty);
    const refresh = async () => {
      let pool;
      try {
        pool = await api('GET', '/service');
      } catch (e) {
        showError(box, e);
        return;
      }
      clearError(box);
      const docs = items(pool.DOCUMENT_POOL, 'DOCUMENT');
      empty.hidden = docs.length > 0;
      table.hidden = docs.length === 0;
      tbody.replaceChildren(...docs.map((d) => {
        const b = serviceBody(d);
        const st = stateName(SERVICE_STATES, b.state);
        const roles = (b.roles || []).map((r) => r.name + ' ' + (r.nodes || []).length + '/' + (r.cardinality ?? 0)).join(', ');
        return h('tr', {'data-id': d.ID},
          h('td', d.ID),
          h('td', h('a', {href: '#/services/' + d.ID}, d.NAME)),
          h('td', d.UNAME), h('td', d.GNAME),
          h('td', badge(st)),
          h('td', roles),
          h('td', time(b.start_time)));
      }));
    };
    await refresh();
    every(2000, refresh);
  }

  // Sunstone's Instances > Services > Create: pick a template, then its
  // instantiate form.
  async function createServicePicker() {
    let pool;
    try {
      pool = await api('GET', '/service_template');
    } catch (e) {
      return null;
    }
    const usable = items(pool.DOCUMENT_POOL, 'DOCUMENT').filter((d) => may(d, 'U'));
    if (!usable.length) return null;
    const pick = select(usable.map((d) => [d.ID, d.NAME + ' (' + d.ID + ')']), usable[0].ID);
    const form = h('form.inline', {'aria-label': 'Create a service'},
      field('Create a service from template', pick),
      h('button', {type: 'submit'}, 'Create…'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      location.hash = '#/templates/' + pick.value + '/instantiate';
    });
    return form;
  }

  async function viewService(m) {
    const id = m[1];
    let doc = (await api('GET', '/service/' + id)).DOCUMENT;
    const manage = may(doc, 'M');
    const stateEl = h('span');
    const box = errorBox();
    const info = h('dl.facts');
    const graph = h('div.graph', {tabindex: '0', role: 'region', 'aria-label': 'Dependency graph'});
    const rolesEl = h('div.roles');
    // Scrollable regions take the focus, so the keyboard scrolls them.
    const logEl = h('ol.log', {'aria-label': 'Service log', tabindex: '0'});
    const timeline = h('div.timeline');
    const actions = manage ? serviceActions(id, box, () => doc) : null;
    const roleControls = manage ? h('div.role-controls') : null;
    page('Service ' + doc.NAME,
      h('p.state-line', 'State: ', stateEl, h('span.live-hint', ' (updated every 2 s)')),
      box,
      actions,
      info,
      h('section', {'aria-labelledby': 'h-graph'}, h('h2#h-graph', 'Roles and dependencies'), graph),
      h('section', {'aria-labelledby': 'h-roles'}, h('h2#h-roles', 'Roles'), roleControls, rolesEl),
      h('section', {'aria-labelledby': 'h-elastic'}, h('h2#h-elastic', 'Elasticity'), timeline),
      h('section', {'aria-labelledby': 'h-log'}, h('h2#h-log', 'Log'), logEl));
    let roleNames = '';
    let timelineRole = null;
    const render = () => {
      const b = serviceBody(doc);
      const st = stateName(SERVICE_STATES, b.state);
      stateEl.replaceChildren(badge(st));
      stateEl.dataset.state = st;
      fill(info,
        h('dt', 'ID'), h('dd', doc.ID),
        h('dt', 'Owner'), h('dd', doc.UNAME + ' / ' + doc.GNAME),
        h('dt', 'Deployment'), h('dd', b.deployment || 'none'),
        h('dt', 'Ready status gate'), h('dd', b.ready_status_gate ? 'yes' : 'no'),
        h('dt', 'Started'), h('dd', time(b.start_time)),
        b.networks_values && b.networks_values.length ? [h('dt', 'Networks'), h('dd', networksText(b.networks_values))] : null);
      graph.replaceChildren(dependencyGraph(b.roles || [], (r) => stateName(ROLE_STATES, r.state)));
      rolesEl.replaceChildren(...(b.roles || []).map(roleCard));
      const names = (b.roles || []).map((r) => r.name).join(',');
      if (roleControls && names !== roleNames) {
        roleNames = names;
        roleControls.replaceChildren(roleActionForms(id, b.roles || [], box));
      }
      if (roleControls && roleControls.firstChild) roleControls.firstChild.follow(b.roles || []);
      const log = b.log || [];
      const atBottom = logEl.scrollTop + logEl.clientHeight >= logEl.scrollHeight - 4;
      logEl.replaceChildren(...log.map((l) => h('li.sev-' + (l.severity || 'I'),
        h('time', time(l.timestamp)), ' ', h('span.sev', l.severity || 'I'), ' ', l.message)));
      if (atBottom) logEl.scrollTop = logEl.scrollHeight;
      const elastic = (b.roles || []).filter((r) => (r.elasticity_policies || []).length || (r.scheduled_policies || []).length);
      if (!elastic.length) {
        timeline.replaceChildren(h('p.empty', 'No role of this service has elasticity or scheduled policies.'));
      } else if (!timeline.dataset.built) {
        timeline.dataset.built = '1';
        timelineRole = elastic[0].name;
        const pick = select(elastic.map((r) => r.name), timelineRole);
        pick.addEventListener('change', () => {
          timelineRole = pick.value;
          loadTimeline();
        });
        timeline.replaceChildren(field('Role', pick), h('div.timeline-body'));
      }
    };
    const loadTimeline = async () => {
      if (!timelineRole) return;
      const body = timeline.querySelector('.timeline-body');
      if (!body) return;
      try {
        const ex = await api('GET', '/service/' + id + '/explain?role=' + encodeURIComponent(timelineRole));
        body.replaceChildren(elasticityTimeline(ex.roles && ex.roles[0], ex.default_cooldown));
      } catch (e) {
        body.replaceChildren(h('p.error', e.message));
      }
    };
    render();
    await loadTimeline();
    every(2000, async () => {
      try {
        doc = (await api('GET', '/service/' + id)).DOCUMENT;
      } catch (e) {
        if (e.status === 404) {
          stateEl.replaceChildren(badge('DONE'));
          stateEl.dataset.state = 'GONE';
          notify('The service is gone.');
          rolesEl.replaceChildren(h('p.empty', 'The service was deleted.'));
          if (actions) actions.remove();
          if (roleControls) roleControls.remove();
          throw e;
        }
        throw e;
      }
      render();
      await loadTimeline();
    });
  }

  function networksText(values) {
    const out = [];
    for (const v of values) {
      for (const [name, src] of Object.entries(v || {})) {
        out.push(name + ': ' + Object.entries(src || {}).map(([k, x]) => k + ' ' + x).join(', '));
      }
    }
    return out.join('; ');
  }

  // The service-wide toolbar: hold/release, recover, recover with delete,
  // delete. Each answers in the error box or the notice line.
  function serviceActions(id, box, docNow) {
    const run = async (label, fn) => {
      clearError(box);
      try {
        await fn();
        notify(label + ': requested.');
      } catch (e) {
        showError(box, e);
      }
    };
    const action = (perform, params) => api('POST', '/service/' + id + '/action', {action: params ? {perform, params} : {perform}});
    const toolbar = h('div.toolbar', {role: 'group', 'aria-label': 'Service actions'},
      button('Hold', () => run('Hold', () => action('hold')), 'secondary'),
      button('Release', () => run('Release', () => action('release')), 'secondary'),
      button('Recover', () => run('Recover', () => action('recover')), 'secondary'),
      button('Recover and delete', () => confirmThen('Recover and delete service ' + id + '?',
        'Its VMs are terminated and the service is removed, whatever its state.', 'Recover and delete',
        () => run('Recover and delete', () => action('recover', {delete: true}))), 'danger'),
      button('Delete', () => confirmThen('Delete service ' + id + '?',
        'Its roles are undeployed in reverse order, then it is deleted.', 'Delete',
        () => run('Delete', () => api('DELETE', '/service/' + id))), 'danger'));
    return toolbar;
  }

  // A modal question; `then` runs when the user confirms.
  function confirmThen(question, detail, yes, then) {
    const dlg = h('dialog.confirm', {'aria-labelledby': 'dlg-q'});
    const ok = button(yes, () => {
      dlg.close();
      dlg.remove();
      then();
    }, 'danger');
    const cancel = button('Cancel', () => {
      dlg.close();
      dlg.remove();
    }, 'secondary');
    dlg.append(h('h2#dlg-q', question), h('p', detail), h('div.toolbar', ok, cancel));
    dlg.addEventListener('cancel', () => dlg.remove());
    document.body.appendChild(dlg);
    dlg.showModal();
    cancel.focus();
  }

  const ROLE_ACTIONS = ['reboot', 'reboot-hard', 'poweroff', 'poweroff-hard', 'hold', 'release', 'suspend', 'resume',
    'stop', 'undeploy', 'undeploy-hard', 'terminate', 'terminate-hard', 'snapshot-create', 'snapshot-revert',
    'snapshot-delete', 'disk-snapshot-create', 'disk-snapshot-revert', 'disk-snapshot-delete'];

  // Scale a role and run a VM action on a role's VMs: two small forms built
  // once per set of roles, so the 2-second refresh leaves what the user is
  // typing alone.
  function roleActionForms(id, roles, box) {
    const names = roles.map((r) => r.name);
    const scaleRole = select(names, names[0], {name: 'role'});
    const card = h('input', {type: 'number', min: '0', step: '1', name: 'cardinality', required: true,
      value: roles[0] ? String(roles[0].cardinality ?? 0) : '1'});
    // The field follows the role's size (a policy may scale it) until the
    // user types a size of her own.
    let typed = false;
    card.addEventListener('input', () => {
      typed = true;
    });
    const follow = (now) => {
      roles = now;
      const r = roles.find((x) => x.name === scaleRole.value);
      if (r && !typed && document.activeElement !== card) card.value = String(r.cardinality ?? 0);
    };
    scaleRole.addEventListener('change', () => {
      typed = false;
      follow(roles);
    });
    const force = h('input', {type: 'checkbox', name: 'force'});
    const scale = h('form.inline.scale', {'aria-label': 'Scale a role'},
      field('Role to scale', scaleRole),
      field('Cardinality', card),
      checkboxField('Force (outside min/max)', force),
      h('button', {type: 'submit'}, 'Scale'));
    scale.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearError(box);
      try {
        await api('POST', '/service/' + id + '/scale',
          {role_name: scaleRole.value, cardinality: Number(card.value), force: force.checked});
        notify('Scaling ' + scaleRole.value + ' to ' + card.value + '.');
        typed = false;
      } catch (e) {
        showError(box, e);
      }
    });
    const actRole = select(names, names[0]);
    const which = select(ROLE_ACTIONS, 'reboot');
    const period = h('input', {type: 'number', min: '0', step: '1', placeholder: 'all at once'});
    const number = h('input', {type: 'number', min: '1', step: '1', placeholder: 'all'});
    const act = h('form.inline.role-action', {'aria-label': 'Act on a role\'s VMs'},
      field('Role', actRole),
      field('VM action', which),
      field('Period (s)', period, 'between batches'),
      field('VMs per batch', number),
      h('button', {type: 'submit'}, 'Run'));
    act.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearError(box);
      const params = {};
      if (period.value !== '') params.period = Number(period.value);
      if (number.value !== '') params.number = Number(number.value);
      try {
        await api('POST', '/service/' + id + '/role/' + encodeURIComponent(actRole.value) + '/action',
          {action: Object.keys(params).length ? {perform: which.value, params} : {perform: which.value}});
        notify(which.value + ' on ' + actRole.value + ': requested.');
      } catch (e) {
        showError(box, e);
      }
    });
    const forms = h('div', scale, act);
    forms.follow = follow;
    return forms;
  }

  // One role: its state, size and VMs with their addresses.
  function roleCard(r) {
    const st = stateName(ROLE_STATES, r.state);
    const nodes = r.nodes || [];
    const rows = nodes.map((n) => {
      const vm = (n.vm_info && n.vm_info.VM) || {};
      const vid = vm.ID ?? n.deploy_id ?? '';
      return h('tr', {'data-vm': vid},
        h('td', String(vid)),
        h('td', vm.NAME || ''),
        h('td', vm.STATE ? badge(vm.STATE) : ''),
        h('td', addresses(vm).join(', ')),
        h('td', n.reason || ''));
    });
    const bounds = [];
    if (r.min_vms !== undefined) bounds.push('min ' + r.min_vms);
    if (r.max_vms !== undefined) bounds.push('max ' + r.max_vms);
    return h('article.role', {'data-role': r.name, 'aria-label': 'Role ' + r.name},
      h('h3', r.name, ' ', badge(st)),
      h('p.meta', 'Cardinality ' + (r.cardinality ?? 0) + (bounds.length ? ' (' + bounds.join(', ') + ')' : '') +
        ' · VM template ' + (r.template_id ?? '') + (r.parents && r.parents.length ? ' · after ' + r.parents.join(', ') : '') +
        (r.vrouter_id !== undefined ? ' · virtual router ' + r.vrouter_id : '')),
      nodes.length
        ? h('table.list.vms', h('caption.sr-only', 'VMs of role ' + r.name),
          h('thead', h('tr', ['VM', 'Name', 'State', 'Addresses', 'Note'].map((t) => h('th', {scope: 'col'}, t)))),
          h('tbody', rows))
        : h('p.empty', 'No VMs.'));
  }

  function addresses(vm) {
    const t = vm.TEMPLATE || {};
    const out = [];
    for (const key of ['NIC', 'NIC_ALIAS']) {
      const list = Array.isArray(t[key]) ? t[key] : t[key] ? [t[key]] : [];
      for (const nic of list) {
        if (nic.IP) out.push(nic.IP + (key === 'NIC_ALIAS' ? ' (alias)' : ''));
        if (nic.VROUTER_IP) out.push(nic.VROUTER_IP + ' (floating)');
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- graph

  // The roles' dependency graph: one node per role in layers (a role sits
  // below its deepest parent), parents → children edges, each node
  // coloured and labelled by its state.
  function dependencyGraph(roles, stateOf) {
    const byName = new Map(roles.map((r) => [r.name, r]));
    const depth = new Map();
    const depthOf = (name, seen) => {
      if (depth.has(name)) return depth.get(name);
      if (seen.has(name)) return 0;
      seen.add(name);
      const r = byName.get(name);
      const ps = ((r && r.parents) || []).filter((p) => byName.has(p));
      const d = ps.length ? 1 + Math.max(...ps.map((p) => depthOf(p, seen))) : 0;
      depth.set(name, d);
      return d;
    };
    for (const r of roles) depthOf(r.name, new Set());
    const layers = [];
    for (const r of roles) {
      const d = depth.get(r.name);
      (layers[d] = layers[d] || []).push(r);
    }
    const W = 150, H = 54, GX = 36, GY = 46, PAD = 12;
    const widest = Math.max(1, ...layers.map((l) => l.length));
    const width = PAD * 2 + widest * W + (widest - 1) * GX;
    const height = PAD * 2 + layers.length * H + (layers.length - 1) * GY;
    const pos = new Map();
    layers.forEach((layer, d) => {
      const rowWidth = layer.length * W + (layer.length - 1) * GX;
      const x0 = (width - rowWidth) / 2;
      layer.forEach((r, i) => pos.set(r.name, {x: x0 + i * (W + GX), y: PAD + d * (H + GY)}));
    });
    const described = roles.map((r) => r.name + (stateOf(r) ? ' ' + stateOf(r) : '') + (r.parents && r.parents.length ? ' after ' + r.parents.join(' and ') : '')).join('; ');
    const svg = h('svg', {viewBox: '0 0 ' + width + ' ' + height, width: String(width), height: String(height),
      role: 'img', 'aria-label': 'Dependency graph: ' + described, class: 'depgraph'});
    svg.appendChild(h('defs', h('marker', {id: 'arrow', viewBox: '0 0 10 10', refX: '10', refY: '5',
      markerWidth: '7', markerHeight: '7', orient: 'auto-start-reverse'}, h('path', {d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrowhead'}))));
    for (const r of roles) {
      const to = pos.get(r.name);
      for (const p of r.parents || []) {
        const from = pos.get(p);
        if (!from) continue;
        svg.appendChild(h('line.edge', {x1: from.x + W / 2, y1: from.y + H, x2: to.x + W / 2, y2: to.y - 2,
          'marker-end': 'url(#arrow)', 'data-from': p, 'data-to': r.name}));
      }
    }
    for (const r of roles) {
      const p = pos.get(r.name);
      const st = stateOf(r);
      const n = (r.nodes || []).length;
      const size = r.cardinality !== undefined ? (r.nodes ? n + '/' : '') + r.cardinality + (r.cardinality === 1 ? ' VM' : ' VMs') : '';
      const g = h('g', {class: 'node ' + (st ? stateClass(st) : 'st-plain'), 'data-role': r.name, 'data-state': st},
        h('title', r.name + (st ? ': ' + st : '')),
        h('rect', {x: p.x, y: p.y, width: W, height: H, rx: '6'}),
        h('text.name', {x: p.x + W / 2, y: p.y + 21, 'text-anchor': 'middle'}, r.name),
        h('text.sub', {x: p.x + W / 2, y: p.y + 40, 'text-anchor': 'middle'}, st ? st + ' · ' + size : size));
      svg.appendChild(g);
    }
    return svg;
  }

  // ---------------------------------------------------------------- timeline

  // Comparisons of a metric with a number in a policy's rule
  // ("expression: CPU > 80 && MEM < 50, type: …"): the thresholds to draw.
  function thresholds(rule) {
    const out = [];
    const expr = /expression:\s*(.*?)(?:,\s*type:|$)/.exec(rule || '');
    const text = expr ? expr[1] : '';
    const re = /([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)/g;
    let m;
    while ((m = re.exec(text))) out.push({metric: m[1], op: m[2], value: Number(m[3])});
    return out;
  }

  function average(inputs, metric) {
    const vals = (inputs || []).filter((i) => !i.left_out && i.values && typeof i.values[metric] === 'number').map((i) => i.values[metric]);
    if (!vals.length) return null;
    return vals.reduce((a, b) => a + b, 0) / vals.length;
  }

  // A role's elasticity from `explain`: its size over time, the metric
  // (the average of the VMs that counted) against each threshold, and
  // every decision with its reason and the guard that held it.
  function elasticityTimeline(role, defaultCooldown) {
    if (!role) return h('p.empty', 'Nothing to explain.');
    const decisions = (role.decisions || []).slice().reverse(); // oldest first
    const limits = [];
    for (const p of role.policies || []) for (const t of thresholds(p.rule)) limits.push(Object.assign({policy: p.policy}, t));
    const metric = limits.length ? limits[0].metric : null;
    const summary = h('p.meta',
      role.cardinality + ' VMs (min ' + role.min_vms + ', max ' + role.max_vms + ') · cooldown out ' + role.cooldown_out +
      ' s, in ' + role.cooldown_in + ' s' + (role.warmup ? ' · warm-up ' + role.warmup + ' s' : '') +
      (role.scale_in_stabilization ? ' · scale-in stabilization ' + role.scale_in_stabilization + ' s' : '') +
      (role.last_scaled ? ' · last scaled ' + time(role.last_scaled) : ''));
    const policies = h('ul.policies', (role.policies || []).map((p) => h('li', h('code', p.policy), ' (' + p.plugin + '): ' + p.rule)));
    if (!decisions.length) {
      return h('div', summary, policies, h('p.empty', 'No evaluation yet: the policies run while the service is RUNNING.'));
    }
    const chart = timelineChart(decisions, role, metric, limits.filter((l) => l.metric === metric));
    const rows = (role.decisions || []).map((d) => {
      const scaled = /^scale to/.test(d.action || '');
      return h('tr', {class: scaled ? 'scaled' : (d.guards && d.guards.length ? 'held' : '')},
        h('td', h('time', time(d.time))),
        h('td', h('code', d.policy)),
        h('td', String(d.cardinality)),
        h('td', metric ? fmt(average(d.inputs, metric)) : ''),
        h('td', d.trace || ''),
        h('td', d.verdict || ''),
        h('td', (d.guards || []).join('; ')),
        h('td.action', d.action || ''));
    });
    const table = h('table.list.decisions', h('caption', 'Decisions, newest first'),
      h('thead', h('tr', ['Time', 'Policy', 'VMs', metric ? metric + ' (avg)' : 'Metric', 'Trace', 'Verdict', 'Guards', 'Action']
        .map((t) => h('th', {scope: 'col'}, t)))),
      h('tbody', rows));
    return h('div', summary, policies, chart, h('div.scroll', {tabindex: '0', role: 'region', 'aria-label': 'Decisions'}, table));
  }

  function fmt(v) {
    if (v === null || v === undefined) return '–';
    return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1).replace(/\.0$/, '');
  }

  // Two stacked panels sharing one time axis: VMs (a step line between
  // min and max) and the metric against its thresholds; a mark per
  // decision that scaled (filled) or that a guard held (hollow).
  function timelineChart(decisions, role, metric, limits) {
    const W = 720, PH = 120, GAP = 40, L = 52, R = 12, T = 22;
    const t0 = decisions[0].time, t1 = Math.max(decisions[decisions.length - 1].time, t0 + 1);
    const x = (t) => L + (W - L - R) * (t - t0) / (t1 - t0);
    const maxVms = Math.max(role.max_vms || 1, ...decisions.map((d) => d.cardinality), role.cardinality, 1);
    const yVm = (n) => T + PH - PH * n / maxVms;
    const values = metric ? decisions.map((d) => average(d.inputs, metric)) : [];
    const top = Math.max(1, ...values.filter((v) => v !== null), ...limits.map((l) => l.value)) * 1.1;
    const y2 = T + PH + GAP;
    const yM = (v) => y2 + PH - PH * v / top;
    const height = y2 + PH + 26;
    const svg = h('svg', {viewBox: '0 0 ' + W + ' ' + height, class: 'chart', role: 'img',
      'aria-label': 'Size of role ' + role.name + ' over time' + (metric ? ' and its ' + metric + ' against the thresholds' : '')});
    // Axes and bounds.
    svg.appendChild(h('text.axis', {x: 4, y: 12}, 'VMs'));
    for (const [n, label] of [[role.min_vms, 'min'], [role.max_vms, 'max']]) {
      if (n === undefined) continue;
      svg.appendChild(h('line.bound', {x1: L, x2: W - R, y1: yVm(n), y2: yVm(n)}));
      svg.appendChild(h('text.axis', {x: L - 4, y: yVm(n) + 4, 'text-anchor': 'end'}, label + ' ' + n));
    }
    // The size each decision saw, and after a decision that scaled, the
    // size it scaled to: a step at that decision.
    const after = (d) => {
      const m = /^scale to (\d+)/.exec(d.action || '');
      return m ? Number(m[1]) : d.cardinality;
    };
    let pts = '';
    decisions.forEach((d, i) => {
      const xx = x(d.time);
      if (i > 0) pts += ' ' + xx.toFixed(1) + ',' + yVm(after(decisions[i - 1])).toFixed(1);
      pts += ' ' + xx.toFixed(1) + ',' + yVm(d.cardinality).toFixed(1);
      if (after(d) !== d.cardinality) pts += ' ' + xx.toFixed(1) + ',' + yVm(after(d)).toFixed(1);
    });
    svg.appendChild(h('polyline.size', {points: pts.trim()}));
    svg.appendChild(h('line.axisline', {x1: L, x2: W - R, y1: T + PH, y2: T + PH}));
    if (metric) {
      svg.appendChild(h('text.axis', {x: 4, y: y2 - 8}, metric));
      for (const l of limits) {
        svg.appendChild(h('line.threshold', {x1: L, x2: W - R, y1: yM(l.value), y2: yM(l.value)}));
        svg.appendChild(h('text.axis', {x: L - 4, y: yM(l.value) + 4, 'text-anchor': 'end'}, l.op + ' ' + l.value));
      }
      let mp = '';
      values.forEach((v, i) => {
        if (v !== null) mp += ' ' + x(decisions[i].time).toFixed(1) + ',' + yM(v).toFixed(1);
      });
      if (mp) svg.appendChild(h('polyline.metric', {points: mp.trim()}));
      svg.appendChild(h('line.axisline', {x1: L, x2: W - R, y1: y2 + PH, y2: y2 + PH}));
    }
    // Decision marks on the size line.
    for (const d of decisions) {
      const scaled = /^scale to/.test(d.action || '');
      const held = d.guards && d.guards.length;
      if (!scaled && !held) continue;
      svg.appendChild(h('circle', {class: scaled ? 'mark-scaled' : 'mark-held', cx: x(d.time), cy: yVm(d.cardinality), r: scaled ? 5 : 4},
        h('title', time(d.time) + ' ' + d.policy + ': ' + (d.verdict || '') + (held ? ' [' + d.guards.join('; ') + ']' : '') + ' → ' + d.action)));
    }
    const bottom = metric ? y2 + PH : T + PH;
    svg.appendChild(h('text.axis', {x: L, y: bottom + 16}, clockTime(t0)));
    svg.appendChild(h('text.axis', {x: W - R, y: bottom + 16, 'text-anchor': 'end'}, clockTime(t1) + ' UTC'));
    const legend = h('p.legend',
      h('span.key.key-size', 'VMs'), ' ', metric ? [h('span.key.key-metric', metric + ' (average of the VMs that count)'), ' ',
        h('span.key.key-threshold', 'threshold'), ' '] : null,
      h('span.key.key-scaled', 'scaled'), ' ', h('span.key.key-held', 'held by a guard'));
    return h('figure.chart-wrap', svg, h('figcaption', legend));
  }

  // ---------------------------------------------------------------- templates

  async function viewTemplates() {
    const pool = await api('GET', '/service_template');
    const docs = items(pool.DOCUMENT_POOL, 'DOCUMENT');
    const rows = docs.map((d) => {
      const b = serviceBody(d);
      return h('tr', {'data-id': d.ID},
        h('td', d.ID),
        h('td', h('a', {href: '#/templates/' + d.ID}, d.NAME)),
        h('td', d.UNAME), h('td', d.GNAME),
        h('td', (b.roles || []).map((r) => r.name).join(', ')),
        h('td', time(b.registration_time)),
        h('td', may(d, 'U') ? h('a.button', {href: '#/templates/' + d.ID + '/instantiate'}, 'Instantiate') : ''));
    });
    page('Service templates',
      h('div.toolbar', h('a.button', {href: '#/templates/new'}, 'New template')),
      docs.length
        ? h('table.list', h('caption.sr-only', 'Service templates'),
          h('thead', h('tr', ['ID', 'Name', 'Owner', 'Group', 'Roles', 'Registered', ''].map((t) => h('th', {scope: 'col'}, t)))),
          h('tbody', rows))
        : h('p.empty', 'No service templates you may see.'));
  }

  async function viewTemplate(m) {
    const id = m[1];
    const doc = (await api('GET', '/service_template/' + id)).DOCUMENT;
    const b = serviceBody(doc);
    const box = errorBox();
    const toolbar = h('div.toolbar', {role: 'group', 'aria-label': 'Template actions'},
      may(doc, 'U') ? h('a.button', {href: '#/templates/' + id + '/instantiate'}, 'Instantiate') : null,
      may(doc, 'M') ? h('a.button.secondary', {href: '#/templates/' + id + '/edit'}, 'Update') : null,
      may(doc, 'U') ? button('Clone', () => cloneDialog(id, doc.NAME, box), 'secondary') : null,
      may(doc, 'M') ? button('Delete', () => deleteTemplateDialog(id, doc.NAME, box), 'danger') : null);
    const inputs = Object.entries(b.user_inputs || {});
    const nets = Object.entries(b.networks || {});
    page('Service template ' + doc.NAME,
      toolbar, box,
      h('dl.facts',
        h('dt', 'ID'), h('dd', doc.ID),
        h('dt', 'Owner'), h('dd', doc.UNAME + ' / ' + doc.GNAME),
        h('dt', 'Description'), h('dd', b.description || '—'),
        h('dt', 'Deployment'), h('dd', b.deployment || 'none'),
        h('dt', 'Ready status gate'), h('dd', b.ready_status_gate ? 'yes: VMs count as running once they report READY=YES' : 'no'),
        h('dt', 'Registered'), h('dd', time(b.registration_time))),
      h('section', {'aria-labelledby': 'h-tg'}, h('h2#h-tg', 'Roles and dependencies'),
        h('div.graph', {tabindex: '0', role: 'region', 'aria-label': 'Dependency graph'}, dependencyGraph(b.roles || [], () => ''))),
      h('section', {'aria-labelledby': 'h-tr'}, h('h2#h-tr', 'Roles'),
        h('table.list', h('caption.sr-only', 'Roles'),
          h('thead', h('tr', ['Role', 'Type', 'VM template', 'Cardinality', 'Min', 'Max', 'Parents', 'Networks', 'Policies'].map((t) => h('th', {scope: 'col'}, t)))),
          h('tbody', (b.roles || []).map((r) => h('tr',
            h('td', r.name), h('td', r.type || 'vm'), h('td', String(r.template_id ?? '')),
            h('td', String(r.cardinality ?? 0)), h('td', r.min_vms ?? ''), h('td', r.max_vms ?? ''),
            h('td', (r.parents || []).join(', ')),
            h('td', nicSummary(r.template_contents)),
            h('td', policySummary(r))))))),
      nets.length ? h('section', {'aria-labelledby': 'h-tn'}, h('h2#h-tn', 'Networks'),
        h('ul', nets.map(([k, v]) => h('li', h('code', k), ': ' + v)))) : null,
      inputs.length ? h('section', {'aria-labelledby': 'h-ti'}, h('h2#h-ti', 'User inputs'),
        h('table.list', h('caption.sr-only', 'User inputs'),
          h('thead', h('tr', ['Name', 'Type', 'Mandatory', 'Description', 'Range or options', 'Default'].map((t) => h('th', {scope: 'col'}, t)))),
          h('tbody', inputs.map(([k, v]) => {
            const i = parseInput(k, v);
            return h('tr', h('td', h('code', k)), h('td', i.type), h('td', i.mandatory ? 'yes' : 'no'), h('td', i.description),
              h('td', i.options || (i.min !== '' || i.max !== '' ? i.min + '..' + i.max : '')), h('td', i.type === 'password' ? '' : i.default));
          })))) : null,
      simulatePanel(id, b),
      h('details', h('summary', 'The template as JSON'), h('pre.json', JSON.stringify(b, null, 2))));
  }

  function nicSummary(contents) {
    const c = contents || {};
    const out = [];
    for (const n of c.NIC || []) out.push('NIC ' + (n.NETWORK_ID || n.NETWORK || '?'));
    for (const n of c.NIC_ALIAS || []) out.push('alias ' + (n.NETWORK_ID || '?') + ' on ' + (n.PARENT || 'NIC0'));
    return out.join(', ');
  }

  function policySummary(r) {
    const out = [];
    for (const p of r.elasticity_policies || []) out.push(p.plugin ? 'plugin ' + p.plugin : p.type + ' ' + p.adjust + ' if ' + p.expression);
    for (const p of r.scheduled_policies || []) out.push(p.type + ' ' + p.adjust + ' at ' + (p.recurrence || p.start_time));
    return out.join('; ');
  }

  // Open a modal dialog holding `form`, the keyboard on `first`; Escape
  // (the dialog's cancel) removes it.
  function showDialog(dlg, form, first) {
    dlg.appendChild(form);
    dlg.addEventListener('cancel', () => dlg.remove());
    document.body.appendChild(dlg);
    dlg.showModal();
    first.focus();
  }

  function cloneDialog(id, name, box) {
    const dlg = h('dialog', {'aria-labelledby': 'clone-t'});
    const newName = h('input', {value: name + '-copy', required: true});
    const recursive = select([['none', 'The service template only'], ['templates', 'Also its VM templates'],
      ['all', 'Also its VM templates and their images']], 'none');
    const err = errorBox();
    const form = h('form', h('h2#clone-t', 'Clone ' + name), field('Name of the copy', newName), field('What to clone', recursive), err,
      h('div.toolbar', h('button', {type: 'submit'}, 'Clone'), button('Cancel', () => {
        dlg.close();
        dlg.remove();
      }, 'secondary')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const out = await api('POST', '/service_template/' + id + '/action',
          {action: {perform: 'clone', params: {name: newName.value, recursive: recursive.value}}});
        dlg.close();
        dlg.remove();
        const nid = out && out.DOCUMENT && out.DOCUMENT.ID;
        location.hash = nid !== undefined ? '#/templates/' + nid : '#/templates';
      } catch (e) {
        showError(err, e);
      }
    });
    showDialog(dlg, form, newName);
  }

  function deleteTemplateDialog(id, name, box) {
    const dlg = h('dialog', {'aria-labelledby': 'del-t'});
    const what = select([['none', 'The service template only'], ['templates', 'Also its VM templates'],
      ['all', 'Also its VM templates and their images']], 'none');
    const err = errorBox();
    const form = h('form', h('h2#del-t', 'Delete ' + name + '?'), field('What to delete', what), err,
      h('div.toolbar', h('button.danger', {type: 'submit'}, 'Delete'), button('Cancel', () => {
        dlg.close();
        dlg.remove();
      }, 'secondary')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        await api('DELETE', '/service_template/' + id, {delete_type: what.value});
        dlg.close();
        dlg.remove();
        location.hash = '#/templates';
      } catch (e) {
        showError(err, e);
      }
    });
    showDialog(dlg, form, what);
  }

  // ---------------------------------------------------------------- simulate

  // `flotilla policy simulate` from the template's page: the server runs
  // the role's policies on a virtual clock against a load shape.
  function simulatePanel(id, b) {
    const roles = (b.roles || []).filter((r) => (r.elasticity_policies || []).length || (r.scheduled_policies || []).length);
    if (!roles.length) return null;
    const role = select(roles.map((r) => r.name), roles[0].name, {'data-field': 'role'});
    const load = h('input', {value: 'sine:20:250:3600', required: true, 'data-field': 'load'});
    const metric = h('input', {value: 'CPU', required: true, 'data-field': 'metric'});
    const duration = h('input', {value: '24h', required: true, 'data-field': 'duration_seconds'});
    const everyS = h('input', {placeholder: 'the server\'s', 'data-field': 'every_seconds'});
    const boot = h('input', {value: '60s', required: true, 'data-field': 'boot_seconds'});
    const target = h('input', {type: 'number', step: 'any', 'data-field': 'target'});
    const perVm = h('input', {type: 'checkbox', 'data-field': 'per_vm'});
    const out = h('div.sim-out', {'aria-live': 'polite'});
    const box = errorBox();
    const form = h('form.grid', {'aria-label': 'Simulate the policies', novalidate: true},
      field('Role', role),
      field('Load', load, 'constant:V, step:BEFORE:AFTER:AT_S, ramp:FROM:TO:S, sine:MIN:MAX:PERIOD_S, spike:BASE:PEAK:AT_S:FOR_S'),
      field('Metric', metric),
      field('Duration', duration, '90s, 30m, 24h, 7d'),
      field('Evaluated every', everyS, 'e.g. 15s; empty: as the server does'),
      field('VM boot time', boot),
      field('Target (optional)', target, 'time each VM spends above and below it'),
      checkboxField('The load is each VM\'s value', perVm),
      h('div.actions', h('button', {type: 'submit'}, 'Simulate')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearError(box, form);
      out.replaceChildren(h('p', 'Simulating…'));
      const req = {role: role.value, load: load.value.trim(), metric: metric.value.trim(), per_vm: perVm.checked};
      // Durations as people write them, in seconds as the API takes them;
      // what does not read is sent as typed, for the server to name.
      for (const [key, el] of [['duration_seconds', duration], ['every_seconds', everyS], ['boot_seconds', boot]]) {
        if (el.value.trim() === '') continue;
        const s = seconds(el.value);
        req[key] = s === null ? el.value.trim() : s;
      }
      if (target.value !== '') req.target = Number(target.value);
      try {
        const report = await api('POST', '/service_template/' + id + '/simulate', req);
        out.replaceChildren(simulationReport(report, Object.assign({duration: duration.value}, req)));
      } catch (e) {
        out.replaceChildren();
        showError(box, e, form);
      }
    });
    return h('section', {'aria-labelledby': 'h-sim'}, h('h2#h-sim', 'Simulate the policies'),
      h('p.hint', 'Replays the role\'s policies on a virtual clock against a load, with the server\'s own policy plugins. Nothing is deployed.'),
      form, box, out);
  }

  // "90s", "30m", "24h", "7d" or plain seconds; null when it does not read.
  function seconds(text) {
    const m = /^\s*(\d+)\s*([smhd]?)\s*$/.exec(text);
    if (!m) return null;
    return Number(m[1]) * {'': 1, s: 1, m: 60, h: 3600, d: 86400}[m[2]];
  }

  function simulationReport(r, req) {
    const samples = r.samples || [];
    const W = 720, H = 160, L = 40, R = 10, T = 10;
    const tEnd = samples.length ? samples[samples.length - 1][0] : 1;
    const maxN = Math.max(1, ...samples.map((s) => s[1]));
    const maxV = Math.max(1, ...samples.map((s) => s[2] || 0));
    const x = (t) => L + (W - L - R) * t / Math.max(1, tEnd);
    const svg = h('svg', {viewBox: '0 0 ' + W + ' ' + (H * 2 + 40), class: 'chart', role: 'img',
      'aria-label': 'Simulated VMs and load over ' + req.duration});
    svg.appendChild(h('polyline.size', {points: samples.map((s) => x(s[0]).toFixed(1) + ',' + (T + H - H * s[1] / maxN).toFixed(1)).join(' ')}));
    svg.appendChild(h('text.axis', {x: 2, y: T + 10}, maxN + ' VMs'));
    svg.appendChild(h('polyline.metric', {points: samples.map((s) => x(s[0]).toFixed(1) + ',' + (T + 2 * H + 20 - H * (s[2] || 0) / maxV).toFixed(1)).join(' ')}));
    svg.appendChild(h('text.axis', {x: 2, y: T + H + 30}, fmt(maxV) + ' ' + req.metric));
    if (req.target !== undefined) {
      const ty = T + 2 * H + 20 - H * req.target / maxV;
      svg.appendChild(h('line.threshold', {x1: L, x2: W - R, y1: ty, y2: ty}));
    }
    const events = r.events || [];
    return h('div',
      h('p', 'Role ' + (r.role || req.role) + ': scale events ' + events.length + ', flaps ' + (r.flaps ?? 0) + ', VM-minutes ' + fmt(r.vm_minutes) +
        ', evaluations ' + (r.evaluations ?? 0) +
        (req.target !== undefined ? ', above target ' + (r.above_target_seconds ?? 0) + ' s, below ' + (r.below_target_seconds ?? 0) + ' s' : '')),
      (r.warnings || []).length ? h('ul.warnings', {'aria-label': 'Warnings'}, r.warnings.map((w) => h('li', w))) : null,
      h('figure.chart-wrap', svg, h('figcaption', 'VMs (top) and the load (bottom) over the simulated time')),
      events.length ? h('div.scroll', {tabindex: '0', role: 'region', 'aria-label': 'Scale events'}, h('table.list', h('caption', 'Scale events'),
        h('thead', h('tr', ['At', 'From', 'To', 'Policy', 'Says', 'Guards'].map((t) => h('th', {scope: 'col'}, t)))),
        h('tbody', events.map((e) => h('tr', h('td', duration(e.time_seconds)), h('td', String(e.from)), h('td', String(e.to)),
          h('td', h('code', e.policy)), h('td', e.says), h('td', (e.guards || []).join('; '))))))) : h('p.empty', 'No scale events.'));
  }

  function duration(s) {
    s = Number(s) || 0;
    const d = Math.floor(s / 86400), hh = Math.floor(s % 86400 / 3600), mm = Math.floor(s % 3600 / 60), ss = s % 60;
    const two = (n) => String(n).padStart(2, '0');
    return (d ? d + 'd ' : '') + two(hh) + ':' + two(mm) + ':' + two(ss);
  }

  // ---------------------------------------------------------------- template form

  const INPUT_TYPES = ['text', 'text64', 'password', 'number', 'number-float', 'range', 'range-float',
    'list', 'list-multiple', 'boolean', 'fixed'];
  const ADJUST_TYPES = ['CHANGE', 'CARDINALITY', 'PERCENTAGE_CHANGE'];

  // A template body as the form's model, and back. Attributes the form
  // does not edit are kept as they were (`extra`), so an update never
  // drops what another client wrote.
  function toModel(b) {
    b = JSON.parse(JSON.stringify(b || {}));
    const model = {
      name: b.name || '', description: b.description || '', deployment: b.deployment || 'straight',
      ready_status_gate: !!b.ready_status_gate, on_hold: !!b.on_hold, automatic_deletion: !!b.automatic_deletion,
      shutdown_action: b.shutdown_action || '',
      networks: Object.entries(b.networks || {}).map(([name, spec]) => {
        const f = String(spec).split('|');
        const def = (f[4] || '').trim();
        const [kind, ref, ...rest] = def ? def.split(':') : ['', ''];
        return {name, mandatory: (f[0] || 'M').trim() !== 'O', description: f[2] || '', kind: kind || '', ref: ref || '', extra: rest.join(':')};
      }),
      inputs: Object.entries(b.user_inputs || {}).map(([name, spec]) => parseInput(name, spec)),
      metadata: (b.user_inputs_metadata || []).map((m) => ({type: m.type || 'APP', name: m.name || '', title: m.title || '',
        description: m.description || '', image: m.image || ''})),
      roles: (b.roles || []).map((r) => {
        const contents = Object.assign({}, r.template_contents || {});
        const nics = (contents.NIC || []).map((n) => ({network: netName(n.NETWORK_ID), alias: false, parent: '', rdp: /^yes$/i.test(n.RDP || ''), keep: n}));
        const aliases = (contents.NIC_ALIAS || []).map((n) => ({network: netName(n.NETWORK_ID), alias: true, parent: n.PARENT || 'NIC0', rdp: false, keep: n}));
        delete contents.NIC;
        delete contents.NIC_ALIAS;
        const role = {
          name: r.name || '', type: r.type || 'vm', template_id: r.template_id ?? '', cardinality: r.cardinality ?? 1,
          min_vms: r.min_vms ?? '', max_vms: r.max_vms ?? '', cooldown: r.cooldown ?? '', shutdown_action: r.shutdown_action || '',
          parents: r.parents || [], nics: nics.concat(aliases),
          policies: (r.elasticity_policies || []).map((p) => ({type: p.type || 'CHANGE', adjust: p.adjust ?? '', expression: p.expression || '',
            period: p.period ?? '', period_number: p.period_number ?? '', cooldown: p.cooldown ?? '', min_adjust_step: p.min_adjust_step ?? '', keep: p})),
          scheduled: (r.scheduled_policies || []).map((p) => ({type: p.type || 'CARDINALITY', adjust: p.adjust ?? '',
            when: p.start_time ? 'start_time' : 'recurrence', value: p.start_time || p.recurrence || '', time_zone: p.time_zone || '', keep: p})),
          contents,
          extra: {},
        };
        for (const [k, v] of Object.entries(r)) {
          if (!['name', 'type', 'template_id', 'cardinality', 'min_vms', 'max_vms', 'cooldown', 'shutdown_action', 'parents',
            'template_contents', 'elasticity_policies', 'scheduled_policies'].includes(k)) role.extra[k] = v;
        }
        return role;
      }),
      extra: {},
    };
    for (const [k, v] of Object.entries(b)) {
      if (!['name', 'description', 'deployment', 'ready_status_gate', 'on_hold', 'automatic_deletion', 'shutdown_action',
        'networks', 'user_inputs', 'user_inputs_metadata', 'roles'].includes(k)) model.extra[k] = v;
    }
    return model;
  }

  function netName(id) {
    const s = String(id || '');
    return s.startsWith('$') ? s.slice(1) : s;
  }

  // "M|range|Workers|1..8|2" as the form's fields.
  function parseInput(name, spec) {
    const f = String(spec).split('|');
    const type = (f[1] || 'text').trim();
    const params = (f[3] || '').trim();
    const input = {name, mandatory: (f[0] || 'O').trim() === 'M', type, description: (f[2] || '').trim(),
      min: '', max: '', options: '', default: (f[4] || '').trim()};
    if (type === 'range' || type === 'range-float') {
      const [a, b] = params.split('..');
      input.min = (a || '').trim();
      input.max = (b || '').trim();
    } else if (type === 'list' || type === 'list-multiple') {
      input.options = params;
    }
    return input;
  }

  function inputSpec(i) {
    let params = '';
    if (i.type === 'range' || i.type === 'range-float') params = (i.min === '' && i.max === '') ? '' : i.min + '..' + i.max;
    else if (i.type === 'list' || i.type === 'list-multiple') params = i.options.split(',').map((o) => o.trim()).filter(Boolean).join(',');
    const head = (i.mandatory ? 'M' : 'O') + '|' + i.type + '|' + i.description;
    return params === '' && i.default === '' ? head : head + '|' + params + '|' + i.default;
  }

  // Numbers typed in the form: whole numbers as numbers, anything else
  // as typed, so the server names the field when it is wrong.
  function num(v) {
    if (v === '' || v === null || v === undefined) return undefined;
    const s = String(v).trim();
    return /^-?\d+$/.test(s) ? Number(s) : s;
  }

  function toBody(model) {
    const b = Object.assign({}, model.extra);
    b.name = model.name;
    b.description = model.description;
    b.deployment = model.deployment;
    b.ready_status_gate = model.ready_status_gate;
    if (model.on_hold) b.on_hold = true;
    if (model.automatic_deletion) b.automatic_deletion = true;
    if (model.shutdown_action) b.shutdown_action = model.shutdown_action;
    if (model.networks.length) {
      b.networks = {};
      for (const n of model.networks) {
        const def = n.kind && n.ref !== '' ? n.kind + ':' + n.ref + (n.extra ? ':' + n.extra : '') : '';
        b.networks[n.name] = (n.mandatory ? 'M' : 'O') + '|network|' + n.description + '||' + def;
      }
    }
    if (model.inputs.length) {
      b.user_inputs = {};
      for (const i of model.inputs) b.user_inputs[i.name] = inputSpec(i);
    }
    if (model.metadata.length) {
      b.user_inputs_metadata = model.metadata.map((m) => {
        const o = {type: m.type, name: m.name};
        if (m.title) o.title = m.title;
        if (m.description) o.description = m.description;
        if (m.image) o.image = m.image;
        return o;
      });
    }
    b.roles = model.roles.map((r) => {
      const o = Object.assign({}, r.extra);
      o.name = r.name;
      o.type = r.type;
      o.template_id = num(r.template_id);
      o.cardinality = num(r.cardinality);
      for (const k of ['min_vms', 'max_vms', 'cooldown']) {
        const v = num(r[k]);
        if (v !== undefined) o[k] = v;
      }
      if (r.shutdown_action) o.shutdown_action = r.shutdown_action;
      if (r.parents.length) o.parents = r.parents.slice();
      const contents = Object.assign({}, r.contents);
      const nics = r.nics.filter((n) => !n.alias);
      const aliases = r.nics.filter((n) => n.alias);
      if (nics.length) {
        contents.NIC = nics.map((n) => {
          const o2 = Object.assign({}, n.keep || {}, {NETWORK_ID: '$' + n.network});
          if (n.rdp) o2.RDP = 'YES';
          else delete o2.RDP;
          return o2;
        });
      }
      if (aliases.length) {
        contents.NIC_ALIAS = aliases.map((n) => Object.assign({}, n.keep || {}, {NETWORK_ID: '$' + n.network, PARENT: n.parent || 'NIC0'}));
      }
      if (Object.keys(contents).length) o.template_contents = contents;
      if (r.policies.length) {
        o.elasticity_policies = r.policies.map((p) => {
          const q = Object.assign({}, p.keep || {});
          for (const k of ['expression_evaluated', 'last_eval', 'true_evals']) delete q[k];
          q.type = p.type;
          q.adjust = num(p.adjust);
          q.expression = p.expression;
          for (const k of ['period', 'period_number', 'cooldown', 'min_adjust_step']) {
            const v = num(p[k]);
            if (v !== undefined) q[k] = v;
            else delete q[k];
          }
          return q;
        });
      }
      if (r.scheduled.length) {
        o.scheduled_policies = r.scheduled.map((p) => {
          const q = Object.assign({}, p.keep || {});
          delete q.last_eval;
          delete q.recurrence;
          delete q.start_time;
          q.type = p.type;
          q.adjust = num(p.adjust);
          q[p.when] = p.value;
          if (p.time_zone) q.time_zone = p.time_zone;
          else delete q.time_zone;
          return q;
        });
      }
      return o;
    });
    return b;
  }

  function newRole(n) {
    return {name: 'role' + n, type: 'vm', template_id: '', cardinality: 1, min_vms: '', max_vms: '', cooldown: '',
      shutdown_action: '', parents: [], nics: [], policies: [], scheduled: [], contents: {}, extra: {}};
  }

  async function viewTemplateForm(id) {
    const [vmPool, netPool, doc] = await Promise.all([
      api('GET', '/vm_template').catch(() => null),
      api('GET', '/vnet').catch(() => null),
      id ? api('GET', '/service_template/' + id).then((d) => d.DOCUMENT) : Promise.resolve(null),
    ]);
    const vmTemplates = items(vmPool && vmPool.VMTEMPLATE_POOL, 'VMTEMPLATE');
    const vnets = items(netPool && netPool.VNET_POOL, 'VNET');
    const model = doc ? toModel(serviceBody(doc)) : toModel({roles: [newRole(1)]});
    const box = errorBox();
    const formEl = h('form.template-form', {novalidate: true, 'aria-label': id ? 'Update the service template' : 'Create a service template'});
    const ctx = {model, vmTemplates, vnets, rerender: null};
    const controls = () => Array.from(formEl.querySelectorAll('input, select, textarea, button, a'));
    const draw = (focusSel) => {
      // The control that has the focus keeps it (the same place in the
      // form): a name typed and left with Tab moves on as expected.
      const at = controls().indexOf(document.activeElement);
      formEl.replaceChildren(...templateFormSections(ctx), box,
        h('div.actions', h('button', {type: 'submit'}, id ? 'Save the template' : 'Create the template'),
          h('a.button.secondary', {href: id ? '#/templates/' + id : '#/templates'}, 'Cancel')));
      const el = focusSel ? formEl.querySelector(focusSel) : at >= 0 ? controls()[at] : null;
      if (el) el.focus();
    };
    // After a change (fired as the focus leaves a field), the form is
    // drawn again once the focus has landed on the next control.
    const rerender = (focusSel) => {
      if (focusSel) draw(focusSel);
      else setTimeout(() => draw(), 0);
    };
    ctx.rerender = rerender;
    formEl.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearError(box, formEl);
      const body = toBody(model);
      try {
        let newId = id;
        if (id) {
          await api('PUT', '/service_template/' + id, body);
        } else {
          const out = await api('POST', '/service_template', body);
          newId = out.DOCUMENT.ID;
        }
        location.hash = '#/templates/' + newId;
      } catch (e) {
        showError(box, e, formEl);
      }
    });
    rerender();
    page(id ? 'Update service template ' + doc.NAME : 'New service template', formEl);
  }

  // Binds a control to model[key]: every keystroke updates the model.
  function bind(el, obj, key, opts) {
    opts = opts || {};
    if (el.type === 'checkbox') {
      el.checked = !!obj[key];
      el.addEventListener('change', () => {
        obj[key] = el.checked;
        if (opts.after) opts.after();
      });
    } else {
      el.value = obj[key] === undefined || obj[key] === null ? '' : String(obj[key]);
      el.addEventListener('input', () => {
        obj[key] = el.value;
      });
      el.addEventListener('change', () => {
        obj[key] = el.value;
        if (opts.after) opts.after();
      });
    }
    if (opts.field) el.dataset.field = opts.field;
    return el;
  }

  function templateFormSections(ctx) {
    const {model} = ctx;
    const general = h('fieldset', h('legend', 'Service'),
      h('div.grid',
        field('Name', bind(h('input', {required: true}), model, 'name', {field: 'name'})),
        field('Description', bind(h('input'), model, 'description', {field: 'description'})),
        field('Deployment', bind(select([['straight', 'straight: parents before children'], ['none', 'none: all roles at once']], model.deployment),
          model, 'deployment', {field: 'deployment'})),
        field('Shutdown action', bind(select([['', 'default (terminate)'], 'terminate', 'terminate-hard'], model.shutdown_action),
          model, 'shutdown_action', {field: 'shutdown_action'}))),
      checkboxField('Wait for VMs to report READY (ready status gate)', bind(h('input', {type: 'checkbox'}), model, 'ready_status_gate',
        {field: 'ready_status_gate'}), 'A VM counts as running only once it reports READY=YES through OneGate.'),
      checkboxField('Deploy on hold', bind(h('input', {type: 'checkbox'}), model, 'on_hold', {field: 'on_hold'})),
      checkboxField('Delete automatically when no VM is left', bind(h('input', {type: 'checkbox'}), model, 'automatic_deletion',
        {field: 'automatic_deletion'})));
    return [general, networksSection(ctx), rolesSection(ctx), inputsSection(ctx), metadataSection(ctx)];
  }

  // Dynamic networks: declared once for the service, attached per role.
  function networksSection(ctx) {
    const {model, vnets} = ctx;
    const rows = model.networks.map((n, i) => {
      const at = 'networks.' + n.name;
      const refOptions = () => {
        if (n.kind === 'template_id') return null;
        return [['', '— none —']].concat(ctx.vnets.map((v) => [v.ID, v.NAME + ' (' + v.ID + ')']));
      };
      const opts = refOptions();
      const ref = opts ? select(opts, n.ref) : h('input', {type: 'number', min: '0'});
      bind(ref, n, 'ref', {field: at});
      return h('fieldset.row', h('legend', 'Network ' + (i + 1)),
        h('div.grid',
          field('Network name', bind(h('input', {required: true, pattern: '[A-Za-z0-9_]+'}), n, 'name', {field: at, after: () => ctx.rerender()})),
          field('Description', bind(h('input'), n, 'description')),
          field('Default source', bind(select([['', 'none: asked at instantiate'], ['id', 'an existing network'],
            ['reserve_from', 'a reservation from a network'], ['template_id', 'a network template']], n.kind), n, 'kind',
          {after: () => ctx.rerender()})),
          n.kind ? field(n.kind === 'template_id' ? 'Network template id' : 'Network', ref) : null,
          n.kind === 'reserve_from' || n.kind === 'template_id' ? field('Extra', bind(h('input', {placeholder: 'SIZE=4'}), n, 'extra')) : null),
        checkboxField('Mandatory', bind(h('input', {type: 'checkbox'}), n, 'mandatory')),
        button('Remove network ' + (i + 1), () => {
          model.networks.splice(i, 1);
          ctx.rerender();
        }, 'secondary small'));
    });
    return h('fieldset', h('legend', 'Networks'),
      h('p.hint', 'Networks the service brings (OneFlow\'s dynamic networks); attach them to roles below as a NIC or an alias.'),
      rows,
      button('Add a network', () => {
        model.networks.push({name: 'Net' + (model.networks.length + 1), mandatory: true, description: '', kind: vnets.length ? 'id' : '',
          ref: vnets.length ? vnets[0].ID : '', extra: ''});
        ctx.rerender('fieldset.row:last-of-type input');
      }, 'secondary'));
  }

  function rolesSection(ctx) {
    const {model} = ctx;
    return h('fieldset', h('legend', 'Roles'),
      model.roles.map((r, i) => roleFieldset(ctx, r, i)),
      button('Add a role', () => {
        model.roles.push(newRole(model.roles.length + 1));
        ctx.rerender('#role-' + (model.roles.length - 1) + '-name');
      }, 'secondary'));
  }

  function roleFieldset(ctx, r, i) {
    const {model, vmTemplates} = ctx;
    const at = 'roles[' + i + ']';
    const tplOptions = [['', '— choose —']].concat(vmTemplates.map((t) => [t.ID, t.NAME + ' (' + t.ID + ')']));
    if (r.template_id !== '' && !vmTemplates.some((t) => String(t.ID) === String(r.template_id))) tplOptions.push([r.template_id, 'VM template ' + r.template_id]);
    const others = model.roles.filter((o) => o !== r && o.name);
    const parents = others.length
      ? h('fieldset.inline-group', h('legend', 'Parents (deployed first)'),
        others.map((o) => {
          const cb = h('input', {type: 'checkbox', value: o.name, checked: r.parents.includes(o.name), id: uid('parent')});
          cb.dataset.field = at + '.parents';
          cb.addEventListener('change', () => {
            r.parents = r.parents.filter((p) => p !== o.name);
            if (cb.checked) r.parents.push(o.name);
          });
          return h('span.check', cb, h('label', {for: cb.id}, o.name));
        }))
      : null;
    const nets = model.networks.map((n) => n.name).filter(Boolean);
    const nicRows = r.nics.map((n, j) => {
      const nicIndex = r.nics.filter((x) => !x.alias).indexOf(n);
      const parentChoices = r.nics.filter((x) => !x.alias).map((x, k) => ['NIC' + k, 'NIC' + k + ' (' + x.network + ')']);
      return h('div.nic',
        field(n.alias ? 'Alias network' : 'NIC' + nicIndex + ' network', bind(select(nets.length ? nets : [''], n.network), n, 'network',
          {field: at + '.template_contents.' + (n.alias ? 'NIC_ALIAS' : 'NIC')})),
        checkboxField('As an alias', bind(h('input', {type: 'checkbox'}), n, 'alias', {after: () => ctx.rerender()})),
        n.alias ? field('Alias of', bind(select(parentChoices.length ? parentChoices : [['NIC0', 'NIC0']], n.parent || 'NIC0'), n, 'parent')) : null,
        !n.alias ? checkboxField('RDP on this NIC', bind(h('input', {type: 'checkbox'}), n, 'rdp')) : null,
        button('Remove', () => {
          r.nics.splice(j, 1);
          ctx.rerender();
        }, 'secondary small', {'aria-label': 'Remove network ' + (j + 1) + ' of role ' + (r.name || i + 1)}));
    });
    const policyRows = r.policies.map((p, j) => h('fieldset.row.policy', h('legend', 'Elasticity policy ' + (j + 1)),
      h('div.grid',
        field('Expression', bind(h('input', {placeholder: 'CPU > 80'}), p, 'expression', {field: at + '.elasticity_policies[' + j + '].expression'})),
        field('Type', bind(select(ADJUST_TYPES, p.type), p, 'type', {field: at + '.elasticity_policies[' + j + '].type'})),
        field('Adjust', bind(h('input', {type: 'number', step: '1'}), p, 'adjust', {field: at + '.elasticity_policies[' + j + '].adjust'})),
        field('Min adjust step', bind(h('input', {type: 'number', min: '1'}), p, 'min_adjust_step', {field: at + '.elasticity_policies[' + j + '].min_adjust_step'})),
        field('Period (s)', bind(h('input', {type: 'number', min: '0'}), p, 'period', {field: at + '.elasticity_policies[' + j + '].period'})),
        field('Period number', bind(h('input', {type: 'number', min: '0'}), p, 'period_number', {field: at + '.elasticity_policies[' + j + '].period_number'}),
          'consecutive true evaluations'),
        field('Cooldown (s)', bind(h('input', {type: 'number', min: '0'}), p, 'cooldown', {field: at + '.elasticity_policies[' + j + '].cooldown'}))),
      button('Remove policy', () => {
        r.policies.splice(j, 1);
        ctx.rerender();
      }, 'secondary small', {'aria-label': 'Remove elasticity policy ' + (j + 1) + ' of role ' + (r.name || i + 1)})));
    const schedRows = r.scheduled.map((p, j) => h('fieldset.row.policy', h('legend', 'Scheduled policy ' + (j + 1)),
      h('div.grid',
        field('Type', bind(select(ADJUST_TYPES, p.type), p, 'type', {field: at + '.scheduled_policies[' + j + '].type'})),
        field('Adjust', bind(h('input', {type: 'number', step: '1'}), p, 'adjust', {field: at + '.scheduled_policies[' + j + '].adjust'})),
        field('When', bind(select([['recurrence', 'recurring (cron)'], ['start_time', 'once (start time)']], p.when), p, 'when',
          {after: () => ctx.rerender()})),
        field(p.when === 'recurrence' ? 'Recurrence' : 'Start time', bind(h('input', {placeholder: p.when === 'recurrence' ? '0 8 * * 1-5' : '2026-01-01 08:00'}), p, 'value',
          {field: at + '.scheduled_policies[' + j + '].' + p.when})),
        field('Time zone', bind(h('input', {placeholder: 'UTC'}), p, 'time_zone', {field: at + '.scheduled_policies[' + j + '].time_zone'}))),
      button('Remove scheduled policy', () => {
        r.scheduled.splice(j, 1);
        ctx.rerender();
      }, 'secondary small', {'aria-label': 'Remove scheduled policy ' + (j + 1) + ' of role ' + (r.name || i + 1)})));
    const nameInput = bind(h('input', {id: 'role-' + i + '-name', required: true, pattern: '[A-Za-z0-9_]+'}), r, 'name', {
      field: at + '.name',
      // Other roles' parents choices follow a renamed role.
      after: () => ctx.rerender(),
    });
    return h('fieldset.role', {'data-role-index': String(i)}, h('legend', 'Role ' + (i + 1) + (r.name ? ': ' + r.name : '')),
      h('div.grid',
        field('Role name', nameInput),
        field('Type', bind(select([['vm', 'vm: VMs'], ['vr', 'vr: a virtual router']], r.type), r, 'type', {field: at + '.type'})),
        field('VM template', bind(select(tplOptions, r.template_id), r, 'template_id', {field: at + '.template_id'})),
        field('Cardinality', bind(h('input', {type: 'number', min: '0', step: '1'}), r, 'cardinality', {field: at + '.cardinality'})),
        field('Min VMs', bind(h('input', {type: 'number', min: '0', step: '1'}), r, 'min_vms', {field: at + '.min_vms'})),
        field('Max VMs', bind(h('input', {type: 'number', min: '0', step: '1'}), r, 'max_vms', {field: at + '.max_vms'})),
        field('Cooldown (s)', bind(h('input', {type: 'number', min: '0', step: '1'}), r, 'cooldown', {field: at + '.cooldown'})),
        field('Shutdown action', bind(select([['', 'the service\'s'], 'terminate', 'terminate-hard'], r.shutdown_action), r, 'shutdown_action'))),
      parents,
      h('fieldset.inline-group', h('legend', 'Networks of this role'),
        nets.length ? null : h('p.hint', 'Declare a network above to attach it.'),
        nicRows,
        nets.length ? button('Attach a network', () => {
          r.nics.push({network: nets[0], alias: false, parent: 'NIC0', rdp: false});
          ctx.rerender();
        }, 'secondary small', {'aria-label': 'Attach a network to role ' + (r.name || i + 1)}) : null),
      policyRows,
      schedRows,
      h('div.toolbar',
        button('Add an elasticity policy', () => {
          r.policies.push({type: 'CHANGE', adjust: 1, expression: 'CPU > 80', period: '', period_number: '', cooldown: '', min_adjust_step: ''});
          ctx.rerender();
        }, 'secondary small', {'aria-label': 'Add an elasticity policy to role ' + (r.name || i + 1)}),
        button('Add a scheduled policy', () => {
          r.scheduled.push({type: 'CARDINALITY', adjust: 1, when: 'recurrence', value: '', time_zone: ''});
          ctx.rerender();
        }, 'secondary small', {'aria-label': 'Add a scheduled policy to role ' + (r.name || i + 1)}),
        model.roles.length > 1 ? button('Remove role', () => {
          const gone = model.roles.splice(i, 1)[0];
          for (const o of model.roles) o.parents = o.parents.filter((p) => p !== gone.name);
          ctx.rerender();
        }, 'danger small', {'aria-label': 'Remove role ' + (r.name || i + 1)}) : null));
  }

  function inputsSection(ctx) {
    const {model} = ctx;
    const rows = model.inputs.map((inp, i) => {
      const at = 'user_inputs.' + inp.name;
      const isRange = inp.type === 'range' || inp.type === 'range-float';
      const isList = inp.type === 'list' || inp.type === 'list-multiple';
      return h('fieldset.row.user-input', {'data-input-index': String(i)}, h('legend', 'User input ' + (i + 1) + (inp.name ? ': ' + inp.name : '')),
        h('div.grid',
          field('Input name', bind(h('input', {required: true, placeholder: 'ONEAPP_APP_GROUP_NAME'}), inp, 'name', {field: at,
            after: () => ctx.rerender()})),
          field('Type', bind(select(INPUT_TYPES, inp.type), inp, 'type', {after: () => ctx.rerender()})),
          field('Description', bind(h('input'), inp, 'description')),
          isRange ? field('Minimum', bind(h('input', {type: 'number', step: 'any'}), inp, 'min')) : null,
          isRange ? field('Maximum', bind(h('input', {type: 'number', step: 'any'}), inp, 'max')) : null,
          isList ? field('Options', bind(h('input', {placeholder: 'small,medium,large'}), inp, 'options'), 'comma-separated') : null,
          field('Default', bind(h('input'), inp, 'default'))),
        checkboxField('Mandatory', bind(h('input', {type: 'checkbox'}), inp, 'mandatory')),
        button('Remove input', () => {
          model.inputs.splice(i, 1);
          ctx.rerender();
        }, 'secondary small', {'aria-label': 'Remove user input ' + (inp.name || i + 1)}));
    });
    return h('fieldset', h('legend', 'User inputs'),
      h('p.hint', 'Asked at instantiate. Names like ONEAPP_<APP>_<GROUP>_<NAME> are grouped by app and group.'),
      rows,
      button('Add a user input', () => {
        model.inputs.push({name: '', mandatory: false, type: 'text', description: '', min: '', max: '', options: '', default: ''});
        ctx.rerender('[data-input-index="' + (model.inputs.length - 1) + '"] input');
      }, 'secondary'));
  }

  function metadataSection(ctx) {
    const {model} = ctx;
    const rows = model.metadata.map((m, i) => {
      const file = h('input', {type: 'file', accept: 'image/*'});
      file.addEventListener('change', () => {
        const f = file.files && file.files[0];
        if (!f) return;
        const reader = new FileReader();
        reader.onload = () => {
          m.image = String(reader.result);
          ctx.rerender();
        };
        reader.readAsDataURL(f);
      });
      return h('fieldset.row.metadata', {'data-meta-index': String(i)}, h('legend', 'Metadata ' + (i + 1)),
        h('div.grid',
          field('Kind', bind(select([['APP', 'APP'], ['GROUP', 'GROUP']], m.type), m, 'type')),
          field('Name', bind(h('input', {placeholder: 'APACHE'}), m, 'name', {field: 'user_inputs_metadata[' + i + '].name'})),
          field('Title', bind(h('input'), m, 'title')),
          field('Description', bind(h('input'), m, 'description')),
          field('Image', file, m.image ? 'an image is set' : 'optional, kept as base64')),
        m.image && /^data:image\//.test(m.image) ? h('img.thumb', {src: m.image, alt: 'Image of ' + (m.title || m.name)}) : null,
        button('Remove metadata', () => {
          model.metadata.splice(i, 1);
          ctx.rerender();
        }, 'secondary small', {'aria-label': 'Remove metadata ' + (i + 1)}));
    });
    return h('fieldset', h('legend', 'User inputs metadata'),
      h('p.hint', 'Titles, descriptions and images of the apps and groups the instantiate form shows.'),
      rows,
      button('Add metadata', () => {
        model.metadata.push({type: 'APP', name: '', title: '', description: '', image: ''});
        ctx.rerender();
      }, 'secondary'));
  }

  // ---------------------------------------------------------------- instantiate

  // OneFlow's naming convention: ONEAPP_<APP>_<GROUP>_<NAME> groups an
  // input under an app (a section) and a group (a fieldset); other inputs
  // go under "Service inputs".
  function conventionOf(name) {
    const m = /^ONEAPP_([A-Za-z0-9]+)_([A-Za-z0-9]+)_(.+)$/.exec(name);
    if (m) return {app: m[1], group: m[2], label: m[3]};
    const two = /^ONEAPP_([A-Za-z0-9]+)_(.+)$/.exec(name);
    if (two) return {app: two[1], group: '', label: two[2]};
    return {app: '', group: '', label: name};
  }

  function b64encode(text) {
    const bytes = new TextEncoder().encode(text);
    let bin = '';
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin);
  }

  function b64decode(text) {
    try {
      const bin = atob(text);
      return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
    } catch (e) {
      return text;
    }
  }

  // One typed control for a user input; `read()` gives the value sent.
  function inputControl(name, spec, fieldName) {
    const i = parseInput(name, spec);
    const id = uid('ui');
    let el;
    let read;
    switch (i.type) {
      case 'password':
        el = h('input', {type: 'password', autocomplete: 'new-password'});
        read = () => el.value;
        break;
      case 'number':
        el = h('input', {type: 'number', step: '1', value: i.default});
        read = () => el.value;
        break;
      case 'number-float':
        el = h('input', {type: 'number', step: 'any', value: i.default});
        read = () => el.value;
        break;
      case 'range':
      case 'range-float':
        el = h('input', {type: 'number', step: i.type === 'range' ? '1' : 'any', min: i.min, max: i.max, value: i.default});
        read = () => el.value;
        break;
      case 'list':
        el = select((i.mandatory ? [] : [['', '—']]).concat(i.options.split(',').map((o) => o.trim()).filter(Boolean)), i.default);
        read = () => el.value;
        break;
      case 'list-multiple': {
        const chosen = i.default.split(',').map((o) => o.trim());
        el = h('select', {multiple: true, size: String(Math.min(6, i.options.split(',').length))},
          i.options.split(',').map((o) => o.trim()).filter(Boolean).map((o) => h('option', {value: o, selected: chosen.includes(o)}, o)));
        read = () => Array.from(el.selectedOptions).map((o) => o.value).join(',');
        break;
      }
      case 'boolean':
        el = h('input', {type: 'checkbox', checked: i.default === 'YES'});
        read = () => (el.checked ? 'YES' : 'NO');
        break;
      case 'text64':
        el = h('textarea', {rows: '2', value: i.default ? b64decode(i.default) : ''});
        read = () => (el.value === '' ? '' : b64encode(el.value));
        break;
      case 'fixed':
        el = h('input', {value: i.default, readOnly: true});
        read = () => el.value;
        break;
      default:
        el = h('input', {value: i.default});
        read = () => el.value;
    }
    el.id = id;
    el.name = name;
    el.dataset.field = fieldName;
    el.dataset.input = name;
    el.dataset.type = i.type;
    if (i.mandatory) el.setAttribute('aria-required', 'true');
    const conv = conventionOf(name);
    const words = [];
    if (i.type === 'range' || i.type === 'range-float') words.push(i.min + ' to ' + i.max);
    if (i.type === 'text64') words.push('sent base64-encoded');
    if (i.type === 'list-multiple') words.push('choose one or more');
    words.push(name);
    const label = (i.description || conv.label) + (i.mandatory ? ' *' : '');
    const wrap = i.type === 'boolean' ? checkboxField(label, el, words.join(' · ')) : field(label, el, words.join(' · '));
    return {el: wrap, read, mandatory: i.mandatory, name, type: i.type};
  }

  function renderInputs(userInputs, metadata, prefix) {
    const meta = new Map();
    for (const m of metadata || []) meta.set((m.type || '').toUpperCase() + ':' + m.name, m);
    const apps = new Map();
    const controls = [];
    for (const [name, spec] of Object.entries(userInputs || {})) {
      const c = inputControl(name, spec, prefix + name);
      controls.push(c);
      const conv = conventionOf(name);
      if (!apps.has(conv.app)) apps.set(conv.app, new Map());
      const groups = apps.get(conv.app);
      if (!groups.has(conv.group)) groups.set(conv.group, []);
      groups.get(conv.group).push(c.el);
    }
    const sections = [];
    for (const [app, groups] of apps) {
      const am = meta.get('APP:' + app) || {};
      const inner = [];
      for (const [group, els] of groups) {
        if (!group) {
          inner.push(h('div.grid', els));
          continue;
        }
        const gm = meta.get('GROUP:' + group) || {};
        inner.push(h('fieldset.group', {'data-group': group}, h('legend', gm.title || group),
          gm.image && /^data:image\//.test(gm.image) ? h('img.logo', {src: gm.image, alt: ''}) : null,
          gm.description ? h('p.hint', gm.description) : null, h('div.grid', els)));
      }
      const titleId = uid('app');
      sections.push(h('section.app', {'data-app': app || '', 'aria-labelledby': titleId},
        h('h3', {id: titleId}, am.image && /^data:image\//.test(am.image) ? h('img.logo', {src: am.image, alt: ''}) : null,
          app ? (am.title || app) : 'General'),
        am.description ? h('p.hint', am.description) : null,
        inner));
    }
    return {sections, controls};
  }

  async function viewInstantiate(m) {
    const id = m[1];
    const [doc, netPool, tplPool] = await Promise.all([
      api('GET', '/service_template/' + id).then((d) => d.DOCUMENT),
      api('GET', '/vnet').catch(() => null),
      api('GET', '/vntemplate').catch(() => null),
    ]);
    const b = serviceBody(doc);
    const vnets = items(netPool && netPool.VNET_POOL, 'VNET');
    const vntemplates = items(tplPool && tplPool.VNTEMPLATE_POOL, 'VNTEMPLATE');
    const name = h('input', {name: 'service-name', placeholder: b.name});
    name.dataset.field = 'name';
    const service = renderInputs(b.user_inputs, b.user_inputs_metadata, 'user_inputs_values.');
    // The USER_INPUTS of the roles' VM templates (one request per template;
    // one the caller may not read adds none).
    const vmInputs = new Map();
    await Promise.all([...new Set((b.roles || []).map((r) => r.template_id).filter((t) => t !== undefined && t !== null))]
      .map(async (t) => {
        const vt = await api('GET', '/vm_template/' + t).catch(() => null);
        const ui = vt && vt.VMTEMPLATE && vt.VMTEMPLATE.TEMPLATE && vt.VMTEMPLATE.TEMPLATE.USER_INPUTS;
        vmInputs.set(String(t), ui && typeof ui === 'object' && !Array.isArray(ui) ? ui : {});
      }));
    // Role inputs that the service does not declare (Sunstone's "Roles
    // inputs" step), one section per role: the VM template's, then the
    // role's own, which win.
    const roleControls = [];
    const roleSections = [];
    (b.roles || []).forEach((r, i) => {
      const all = Object.assign({}, vmInputs.get(String(r.template_id)) || {}, r.user_inputs || {});
      const own = Object.fromEntries(Object.entries(all).filter(([k, v]) => !(b.user_inputs || {})[k] && typeof v === 'string'));
      if (!Object.keys(own).length) return;
      const rendered = renderInputs(own, b.user_inputs_metadata, 'roles[' + i + '].user_inputs_values.');
      roleControls.push({role: r.name, controls: rendered.controls});
      roleSections.push(h('fieldset.role-inputs', h('legend', 'Role ' + r.name), rendered.sections));
    });
    const netControls = Object.entries(b.networks || {}).map(([net, spec]) => networkChoice(net, spec, vnets, vntemplates));
    const box = errorBox();
    const submit = h('button', {type: 'submit'}, 'Instantiate');
    // novalidate: the server checks every value against its type and range
    // and names the field; the page shows that answer.
    const form = h('form.instantiate', {novalidate: true, 'aria-label': 'Instantiate ' + doc.NAME},
      h('div.grid', field('Service name', name, 'the template\'s name when empty')),
      service.sections.length ? h('section', {'aria-labelledby': 'h-si'}, h('h2#h-si', 'Service inputs'), service.sections) : null,
      roleSections.length ? h('section', {'aria-labelledby': 'h-ri'}, h('h2#h-ri', 'Roles inputs'), roleSections) : null,
      netControls.length ? h('section', {'aria-labelledby': 'h-net'}, h('h2#h-net', 'Networks'), netControls.map((c) => c.el)) : null,
      box,
      h('div.actions', submit, h('a.button.secondary', {href: '#/templates/' + id}, 'Cancel')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearError(box, form);
      const merge = {};
      if (name.value.trim()) merge.name = name.value.trim();
      const values = {};
      for (const c of service.controls) {
        const v = c.read();
        if (v !== '' || c.mandatory) values[c.name] = v;
      }
      if (Object.keys(values).length) merge.user_inputs_values = values;
      if (roleControls.length) {
        merge.roles = roleControls.map((rc) => {
          const vals = {};
          for (const c of rc.controls) {
            const v = c.read();
            if (v !== '' || c.mandatory) vals[c.name] = v;
          }
          return {name: rc.role, user_inputs_values: vals};
        });
      }
      const nets = {};
      for (const c of netControls) {
        const v = c.read();
        if (v) nets[c.name] = v;
      }
      if (Object.keys(nets).length) merge.networks_values = [nets];
      submit.disabled = true;
      try {
        const out = await api('POST', '/service_template/' + id + '/action',
          {action: {perform: 'instantiate', params: {merge_template: merge}}});
        location.hash = '#/services/' + out.DOCUMENT.ID;
      } catch (e) {
        showError(box, e, form);
      } finally {
        submit.disabled = false;
      }
    });
    page('Instantiate ' + doc.NAME, b.description ? h('p', b.description) : null, form);
  }

  // How one declared network is provided: an existing network, a
  // reservation from one, or a network template instantiated.
  function networkChoice(net, spec, vnets, vntemplates) {
    const f = String(spec).split('|');
    const def = (f[4] || '').trim();
    const [kind0, ref0, ...extra0] = def ? def.split(':') : ['id', ''];
    const kind = select([['id', 'an existing network'], ['reserve_from', 'a reservation from a network'],
      ['template_id', 'a network template']], kind0 || 'id');
    const netOptions = vnets.map((v) => [v.ID, v.NAME + ' (' + v.ID + ')']);
    const tplOptions = vntemplates.map((v) => [v.ID, v.NAME + ' (' + v.ID + ')']);
    const which = h('select');
    which.dataset.field = 'networks_values[0].' + net;
    const extra = h('input', {placeholder: 'SIZE=4', value: extra0.join(':')});
    const extraField = field('Extra', extra, 'e.g. SIZE=4, or AR=[IP=…, SIZE=…, TYPE=IP4]');
    const fill = () => {
      const opts = kind.value === 'template_id' ? tplOptions : netOptions;
      const keep = which.value || ref0;
      which.replaceChildren(...[['', '— choose —']].concat(opts).map(([v, l]) => h('option', {value: v, selected: String(v) === String(keep)}, l)));
      extraField.hidden = kind.value === 'id';
    };
    kind.addEventListener('change', fill);
    fill();
    const el = h('fieldset.network', {'data-network': net}, h('legend', net + ((f[0] || 'M').trim() === 'M' ? ' *' : '') + (f[2] ? ': ' + f[2] : '')),
      h('div.grid', field('Source', kind), field(net + ' from', which), extraField));
    return {
      el, name: net,
      read: () => {
        if (which.value === '') return null;
        const v = {};
        v[kind.value] = which.value;
        if (kind.value !== 'id' && extra.value.trim()) v.extra = extra.value.trim();
        return v;
      },
    };
  }

  // ---------------------------------------------------------------- networks

  async function viewNetworks() {
    const pool = await api('GET', '/vnet');
    const nets = items(pool.VNET_POOL, 'VNET');
    page('Networks',
      nets.length ? h('table.list', h('caption.sr-only', 'Virtual networks'),
        h('thead', h('tr', ['ID', 'Name', 'Owner', 'Group', 'Address ranges', 'Leases', 'Parent'].map((t) => h('th', {scope: 'col'}, t)))),
        h('tbody', nets.map((n) => {
          const t = n.TEMPLATE || {};
          const ars = (Array.isArray(t.AR) ? t.AR : t.AR ? [t.AR] : []).map((a) => (a.IP || a.TYPE || '?') + ' ×' + (a.SIZE || '?')).join(', ');
          return h('tr', h('td', n.ID), h('td', h('a', {href: '#/networks/' + n.ID}, n.NAME)), h('td', n.UNAME), h('td', n.GNAME),
            h('td', ars), h('td', n.USED_LEASES ?? ''), h('td', n.PARENT_NETWORK_ID ?? t.PARENT_NETWORK_ID ?? ''));
        }))) : h('p.empty', 'No networks you may see.'));
  }

  async function viewNetwork(m) {
    const n = (await api('GET', '/vnet/' + m[1])).VNET;
    const leases = n.LEASES || [];
    const refresh = h('div');
    page('Network ' + n.NAME,
      h('dl.facts', h('dt', 'ID'), h('dd', n.ID), h('dt', 'Owner'), h('dd', n.UNAME + ' / ' + n.GNAME)),
      h('details', h('summary', 'Attributes'), h('pre.json', JSON.stringify(n.TEMPLATE || {}, null, 2))),
      h('section', {'aria-labelledby': 'h-leases'}, h('h2#h-leases', 'Leases (' + leases.length + ')'),
        leases.length ? h('table.list.leases', h('caption.sr-only', 'Leases'),
          h('thead', h('tr', ['IP', 'MAC', 'Holder', 'Service'].map((t) => h('th', {scope: 'col'}, t)))),
          h('tbody', leases.map((l) => h('tr', h('td', l.IP || ''), h('td', l.MAC || ''), h('td', l.HOLDER || ''),
            h('td', l.SERVICE_ID !== undefined ? h('a', {href: '#/services/' + l.SERVICE_ID}, String(l.SERVICE_ID)) : '')))))
          : h('p.empty', 'No addresses leased.')),
      refresh);
  }

  // ---------------------------------------------------------------- plugins

  async function viewPlugins() {
    const body = h('div');
    page('Plugins', h('p.hint', 'Every driver, policy and network mode runs sandboxed, with what the operator granted it.'), body);
    const render = async () => {
      const out = await api('GET', '/plugins');
      const list = out.plugins || [];
      body.replaceChildren(h('table.list.plugins', h('caption.sr-only', 'Plugins'),
        h('thead', h('tr', ['Plugin', 'Kind', 'Version', 'Status', 'Calls', 'Faults', 'Limits', 'Grants', 'Source'].map((t) => h('th', {scope: 'col'}, t)))),
        h('tbody', list.map((p) => {
          const quarantined = /^quarantined/.test(p.status || '');
          const status = quarantined && p.quarantined_until ? 'quarantined until ' + time(p.quarantined_until) : p.status;
          const grants = [];
          if ((p.allowed_outbound_hosts || []).length) grants.push('outbound: ' + p.allowed_outbound_hosts.join(', '));
          if ((p.programs || []).length) grants.push('programs: ' + p.programs.join(', '));
          if (p.link) {
            grants.push('devices named ' + ((p.link.prefixes || []).join(', ') || 'nothing') +
              ((p.link.underlays || []).length ? '; VXLAN over ' + p.link.underlays.join(', ') : ''));
          }
          return h('tr', {'data-plugin': p.id},
            h('td', h('strong', p.id)), h('td', p.kind), h('td', p.version),
            h('td', h('span.badge.' + (quarantined ? 'st-warning' : /^failed/.test(p.status || '') ? 'st-failed' : 'st-running'), status)),
            h('td', String(p.calls)), h('td', String(p.faults)),
            h('td', p.timeout_ms + ' ms, ' + p.memory_mb + ' MiB'),
            h('td', grants.length ? h('ul.plain', grants.map((g) => h('li', g))) : 'none'),
            h('td', h('span.source', p.source)));
        }))));
    };
    await render();
    every(5000, render);
  }

  // ---------------------------------------------------------------- start

  async function start() {
    document.getElementById('sign-out').addEventListener('click', signOut);
    const skip = document.querySelector('.skip');
    skip.addEventListener('click', (ev) => {
      ev.preventDefault();
      mainEl().focus();
    });
    window.addEventListener('hashchange', route);
    try {
      const s = await api('GET', '/ui/session');
      session.user = s.user;
      session.csrf = s.csrf;
      signedIn();
    } catch (e) {
      showSignIn();
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
