'use strict'
// The kafka-emulator console: one page, a view per location hash, each built from the JSON API
// (/api/...) and refreshed when /api/events says what it shows changed. No framework, no build.

/** An element with attributes (`on*` functions become listeners) and children (strings become text). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value)
    else el.setAttribute(name, value === true ? '' : value)
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) el.append(child instanceof Node ? child : String(child))
  }
  return el
}

async function api(path, options = {}) {
  const init = { method: options.method || 'GET', headers: {} }
  if (options.body !== undefined) {
    init.headers['content-type'] = 'application/json'
    init.body = JSON.stringify(options.body)
  }
  const response = await fetch(path, init)
  const body = await response.json().catch(() => ({}))
  if (!response.ok) throw Object.assign(new Error(body.message || response.statusText), { code: body.code })
  return body
}

function notice(text) {
  document.getElementById('problem').textContent = ''
  document.getElementById('notice').textContent = text
}

function problem(err) {
  document.getElementById('notice').textContent = ''
  document.getElementById('problem').textContent = err.code ? `${err.code}: ${err.message}` : err.message
}

/** A table with a caption, column headers and rows; `num` columns are right-aligned. */
function table(caption, columns, rows, empty = 'None.') {
  const numeric = new Set(columns.filter((c) => c.num).map((c) => c.label))
  return h('table', {},
    h('caption', { class: 'muted', style: 'text-align:left' }, caption),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label)))),
    h('tbody', {}, rows.length === 0
      ? h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, empty))
      : rows.map((row) => h('tr', {}, row.map((cell, i) => h('td', { class: numeric.has(columns[i].label) ? 'num' : null }, cell))))))
}

function field(label, input) {
  return h('label', {}, label, input)
}

/** A record's key, value or header as the API gives it: JSON pretty-printed, text, or hex. */
function shown(v) {
  if (v === null) return h('span', { class: 'muted' }, 'null')
  const tag = v.encoding === 'text' ? null : h('span', { class: 'tag' }, v.encoding === 'binary' ? `hex, ${v.size} B` : 'JSON')
  const text = v.encoding === 'json' ? JSON.stringify(JSON.parse(v.text), null, 2) : v.text
  return h('div', {}, tag, h('pre', {}, text))
}

const time = (ms) => new Date(Number(ms)).toISOString().replace('T', ' ').replace('Z', '')

// ---- Views: each returns { root, refresh(change) }; refresh re-reads what the view shows. ----

function overview() {
  const root = h('div', {}, h('h2', {}, 'Cluster overview'))
  const body = h('div')
  root.append(body)
  async function refresh() {
    const c = await api('/api/cluster')
    body.replaceChildren(
      h('div', { class: 'stats' },
        [['Brokers', c.brokers.length], ['Topics', c.topicCount], ['Partitions', c.partitionCount], ['Consumer groups', c.groupCount]]
          .map(([label, n]) => h('div', { class: 'stat', role: 'group', 'aria-label': label }, h('strong', {}, n), label))),
      h('section', { class: 'card', 'aria-label': 'Cluster' }, h('dl', { class: 'facts' },
        h('dt', {}, 'Cluster id'), h('dd', {}, c.clusterId),
        h('dt', {}, 'Controller'), h('dd', {}, `broker ${c.controller}`),
        h('dt', {}, 'Console acts as'), h('dd', {}, c.actingAs))),
      table('Brokers', [{ label: 'Broker' }, { label: 'Status' }, { label: 'Listeners' }, { label: 'Action' }],
        c.brokers.map((b) => [
          String(b.id),
          h('span', { class: b.running ? 'running' : 'stopped' }, b.running ? 'running' : 'stopped'),
          h('div', {}, b.listeners.map((l) => h('div', {}, `${l.name} (${l.security}) ${l.host}:${l.port}`))),
          h('button', {
            class: 'secondary',
            onclick: async (e) => {
              e.target.disabled = true
              try {
                await api(`/api/brokers/${b.id}/${b.running ? 'stop' : 'start'}`, { method: 'POST', body: {} })
                notice(`Broker ${b.id} ${b.running ? 'stopped' : 'started'}`)
              } catch (err) { problem(err) }
              refresh()
            },
          }, `${b.running ? 'Stop' : 'Start'} broker ${b.id}`),
        ])))
  }
  return { root, refresh, on: ['topics', 'groups', 'brokers'] }
}

function topics() {
  const name = h('input', { name: 'name', required: true, placeholder: 'orders' })
  const partitions = h('input', { name: 'partitions', type: 'number', min: 1, placeholder: 'default' })
  const list = h('div')
  const root = h('div', {}, h('h2', {}, 'Topics'),
    h('form', {
      'aria-label': 'Create a topic',
      onsubmit: async (e) => {
        e.preventDefault()
        try {
          await api('/api/topics', { method: 'POST', body: { name: name.value, partitions: partitions.value || null } })
          notice(`Created topic ${name.value}`)
          name.value = ''
          refresh()
        } catch (err) { problem(err) }
      },
    }, field('Topic name', name), field('Partitions', partitions), h('button', { type: 'submit' }, 'Create topic')),
    list)
  async function refresh() {
    const all = await api('/api/topics')
    list.replaceChildren(table('Topics', [{ label: 'Topic' }, { label: 'Partitions', num: true }, { label: 'Messages', num: true }, { label: 'Size (bytes)', num: true }, { label: 'Configs' }],
      all.map((t) => [
        h('a', { href: `#/topics/${encodeURIComponent(t.name)}` }, t.name),
        String(t.partitions.length),
        String(t.partitions.reduce((n, p) => n + p.highWatermark - p.logStartOffset, 0)),
        String(t.partitions.reduce((n, p) => n + p.sizeBytes, 0)),
        Object.entries(t.configs).map(([k, v]) => h('span', { class: 'tag' }, `${k}=${v}`)),
      ]), 'No topics yet.'))
  }
  return { root, refresh, on: ['topics', 'records'] }
}

function topic(topicName) {
  const q = (attrs) => h('input', attrs)
  const browse = {
    partition: q({ name: 'partition', type: 'number', min: 0, placeholder: 'all' }),
    offset: q({ name: 'offset', type: 'number', min: 0, placeholder: 'earliest' }),
    timestamp: q({ name: 'timestamp', type: 'datetime-local', step: 1 }),
    search: q({ name: 'q', type: 'search', placeholder: 'key, value or header' }),
    limit: q({ name: 'limit', type: 'number', min: 1, max: 1000, value: 100 }),
  }
  const produce = {
    key: h('input', { name: 'key' }),
    value: h('textarea', { name: 'value' }),
    headers: h('input', { name: 'headers', placeholder: '{"trace-id": "abc"}' }),
    partition: h('input', { name: 'partition', type: 'number', min: 0, placeholder: 'by key' }),
  }
  const partitions = h('div')
  const configs = h('div')
  const messages = h('div')
  const root = h('div', {},
    h('p', {}, h('a', { href: '#/topics' }, '← Topics')),
    h('h2', {}, `Topic ${topicName}`),
    partitions, configs,
    h('h3', { id: 'produce-heading' }, 'Produce a record'),
    h('form', {
      'aria-labelledby': 'produce-heading',
      onsubmit: async (e) => {
        e.preventDefault()
        let headers = null
        try {
          if (produce.headers.value.trim()) headers = JSON.parse(produce.headers.value)
        } catch {
          return problem(new Error('Headers must be a JSON object of strings'))
        }
        try {
          const at = await api(`/api/topics/${encodeURIComponent(topicName)}/messages`, {
            method: 'POST',
            body: { key: produce.key.value || null, value: produce.value.value, headers, partition: produce.partition.value || null },
          })
          notice(`Produced to partition ${at.partition} at offset ${at.offset}`)
          refresh()
        } catch (err) { problem(err) }
      },
    }, field('Key', produce.key), field('Value', produce.value), field('Headers (JSON)', produce.headers), field('Partition', produce.partition),
    h('button', { type: 'submit' }, 'Produce')),
    h('h3', { id: 'messages-heading' }, 'Messages'),
    h('form', {
      role: 'search',
      'aria-labelledby': 'messages-heading',
      onsubmit: (e) => { e.preventDefault(); refresh() },
    }, field('Partition', browse.partition), field('From offset', browse.offset), field('From timestamp', browse.timestamp),
    field('Search', browse.search), field('Limit', browse.limit), h('button', { type: 'submit' }, 'Show messages')),
    messages)
  async function refresh() {
    const all = await api('/api/topics')
    const t = all.find((x) => x.name === topicName)
    if (!t) {
      partitions.replaceChildren(h('p', {}, `Topic ${topicName} does not exist.`))
      messages.replaceChildren()
      return
    }
    partitions.replaceChildren(table('Partitions', [{ label: 'Partition', num: true }, { label: 'Leader', num: true }, { label: 'Leader epoch', num: true }, { label: 'Replicas' }, { label: 'Log start offset', num: true }, { label: 'High watermark', num: true }, { label: 'Size (bytes)', num: true }],
      t.partitions.map((p) => [p.partition, p.leader, p.leaderEpoch, p.replicas.join(', '), p.logStartOffset, p.highWatermark, p.sizeBytes].map(String))))
    configs.replaceChildren(table('Configs set on the topic (others are the broker defaults)', [{ label: 'Config' }, { label: 'Value' }],
      Object.entries(t.configs)))
    const params = new URLSearchParams()
    if (browse.partition.value) params.set('partition', browse.partition.value)
    if (browse.offset.value) params.set('offset', browse.offset.value)
    if (browse.timestamp.value) params.set('timestamp', String(new Date(browse.timestamp.value).getTime()))
    if (browse.search.value) params.set('q', browse.search.value)
    if (browse.limit.value) params.set('limit', browse.limit.value)
    const found = await api(`/api/topics/${encodeURIComponent(topicName)}/messages?${params}`)
    messages.replaceChildren(table(`${found.records.length} of ${found.matched} matching record(s), newest first`,
      [{ label: 'Partition', num: true }, { label: 'Offset', num: true }, { label: 'Timestamp (UTC)' }, { label: 'Key' }, { label: 'Value' }, { label: 'Headers' }],
      found.records.map((r) => [
        String(r.partition), String(r.offset), time(r.timestamp), shown(r.key), shown(r.value),
        h('div', {}, r.headers.map((x) => h('div', {}, h('span', { class: 'tag' }, x.key), shown(x.value)))),
      ]), 'No messages.'))
  }
  return { root, refresh, on: ['topics', 'records'], topic: topicName }
}

function groups() {
  const list = h('div')
  const root = h('div', {}, h('h2', {}, 'Consumer groups'), list)
  function resetForm(g) {
    const to = h('select', { name: 'to' }, h('option', { value: 'earliest' }, 'earliest'), h('option', { value: 'latest' }, 'latest'), h('option', { value: 'offset' }, 'offset'))
    const offset = h('input', { name: 'offset', type: 'number', min: 0 })
    const onTopic = h('input', { name: 'topic', placeholder: 'every committed topic' })
    return h('form', {
      'aria-label': `Reset offsets of ${g.groupId}`,
      onsubmit: async (e) => {
        e.preventDefault()
        try {
          const target = to.value === 'offset' ? Number(offset.value) : to.value
          await api(`/api/groups/${encodeURIComponent(g.groupId)}/reset-offsets`, { method: 'POST', body: { to: target, topic: onTopic.value || null } })
          notice(`Reset the offsets of ${g.groupId}`)
          refresh()
        } catch (err) { problem(err) }
      },
    }, field('Reset to', to), field('Offset', offset), field('Topic', onTopic), h('button', { type: 'submit', disabled: g.members.length > 0 }, 'Reset offsets'),
    g.members.length > 0 ? h('span', { class: 'muted' }, 'Stop the group\'s consumers to reset its offsets.') : null)
  }
  async function refresh() {
    const all = await api('/api/groups')
    if (all.length === 0) return list.replaceChildren(h('p', { class: 'muted' }, 'No consumer groups yet.'))
    list.replaceChildren(...all.map((g) => h('section', { class: 'card', 'aria-label': `Group ${g.groupId}` },
      h('h3', {}, g.groupId),
      h('dl', { class: 'facts' },
        h('dt', {}, 'State'), h('dd', {}, g.state),
        h('dt', {}, 'Type'), h('dd', {}, g.type),
        h('dt', {}, 'Protocol type'), h('dd', {}, g.protocolType || '(none)'),
        h('dt', {}, 'Protocol'), h('dd', {}, g.protocol || '(none)'),
        h('dt', {}, g.type === 'consumer' ? 'Group epoch' : 'Generation'), h('dd', {}, String(g.generationId)),
        h('dt', {}, 'Coordinator'), h('dd', {}, `broker ${g.coordinator}`),
        h('dt', {}, 'Total lag'), h('dd', {}, String(g.totalLag))),
      table(`Members of ${g.groupId}`, [{ label: 'Member' }, { label: 'Client id' }, { label: 'Host' }, { label: 'Assignment' }],
        g.members.map((m) => [m.memberId, m.clientId, m.clientHost,
          Object.entries(m.assignment).map(([t, ps]) => `${t}: ${ps.join(', ')}`).join('; ')]), 'No members.'),
      table(`Lag of ${g.groupId}`, [{ label: 'Topic' }, { label: 'Partition', num: true }, { label: 'Committed offset', num: true }, { label: 'High watermark', num: true }, { label: 'Lag', num: true }, { label: 'Member' }],
        g.partitions.map((p) => [p.topic, String(p.partition), p.committedOffset ?? '-', String(p.highWatermark), p.lag ?? '-', p.memberId ?? '-']), 'Nothing committed or assigned.'),
      resetForm(g))))
  }
  return { root, refresh, on: ['groups', 'records'] }
}

function requests() {
  const list = h('div')
  const filter = h('input', { name: 'filter', type: 'search', placeholder: 'API, client id or error' })
  let latest = []
  const root = h('div', {}, h('h2', {}, 'Requests'),
    h('p', { class: 'muted' }, 'The latest requests the brokers served (kafka.requests()), newest first.'),
    h('form', {
      'aria-label': 'Request log',
      onsubmit: async (e) => {
        e.preventDefault()
        try { await api('/api/requests', { method: 'DELETE', body: {} }); refresh() } catch (err) { problem(err) }
      },
    }, field('Filter', filter), h('button', { type: 'submit', class: 'secondary' }, 'Clear the request log')),
    list)
  filter.addEventListener('input', () => show())
  function show() {
    const needle = filter.value.trim().toLowerCase()
    const shownRows = latest.filter((r) => !needle || [r.api, r.clientId, r.error ?? ''].some((x) => x.toLowerCase().includes(needle))).slice(0, 500)
    list.replaceChildren(table('Request log', [{ label: 'Time (UTC)' }, { label: 'API' }, { label: 'Version', num: true }, { label: 'Client id' }, { label: 'Broker', num: true }, { label: 'Connection', num: true }, { label: 'Correlation id', num: true }, { label: 'Error' }, { label: 'Duration (ms)', num: true }],
      shownRows.map((r) => [time(r.timestamp), r.api, String(r.version), r.clientId, String(r.broker), String(r.connection), String(r.correlationId),
        r.error ? h('span', { class: 'stopped' }, r.injected ? `${r.error} (injected)` : r.error) : '', r.durationMs.toFixed(2)]), 'No requests.'))
  }
  async function refresh() {
    latest = await api('/api/requests')
    show()
  }
  return { root, refresh, on: ['requests'] }
}

function faults() {
  const apiName = h('input', { name: 'api', required: true, placeholder: 'Produce', list: 'apis' })
  const error = h('input', { name: 'error', placeholder: 'NOT_LEADER_OR_FOLLOWER' })
  const drop = h('select', { name: 'drop' }, h('option', { value: '' }, 'no'), h('option', { value: 'request' }, 'the request'), h('option', { value: 'response' }, 'the response'))
  const count = h('input', { name: 'count', type: 'number', min: 1, value: 1 })
  const topicName = h('input', { name: 'topic', placeholder: 'any' })
  const list = h('div')
  const root = h('div', {}, h('h2', {}, 'Fault injection'),
    h('datalist', { id: 'apis' }, ['Produce', 'Fetch', 'Metadata', 'ListOffsets', 'OffsetCommit', 'OffsetFetch', 'FindCoordinator', 'JoinGroup', 'SyncGroup', 'Heartbeat', 'InitProducerId', 'CreateTopics'].map((a) => h('option', { value: a }))),
    h('form', {
      'aria-label': 'Inject a fault',
      onsubmit: async (e) => {
        e.preventDefault()
        try {
          await api('/api/faults', { method: 'POST', body: { api: apiName.value, error: error.value || null, drop: drop.value || null, count: count.value || 1, topic: topicName.value || null } })
          notice(`The next ${count.value || 1} ${apiName.value} request(s) will fail`)
          refresh()
        } catch (err) { problem(err) }
      },
    }, field('API', apiName), field('Error', error), field('Drop the connection, losing', drop), field('Count', count), field('Topic', topicName),
    h('button', { type: 'submit' }, 'Inject fault')),
    h('form', {
      'aria-label': 'Clear faults',
      onsubmit: async (e) => {
        e.preventDefault()
        try { await api('/api/faults', { method: 'DELETE', body: {} }); notice('Cleared every fault'); refresh() } catch (err) { problem(err) }
      },
    }, h('button', { type: 'submit', class: 'secondary' }, 'Clear faults')),
    list)
  async function refresh() {
    const all = await api('/api/faults')
    list.replaceChildren(table('Armed faults', [{ label: 'API' }, { label: 'Error' }, { label: 'Drop' }, { label: 'Remaining', num: true }, { label: 'Topic' }, { label: 'Broker' }, { label: 'Client id' }],
      all.map((f) => [f.api, f.error ?? '', f.drop ?? '', String(f.count), f.topic ?? 'any', f.broker ?? 'any', f.clientId ?? 'any']), 'No faults armed.'))
  }
  return { root, refresh, on: ['faults'] }
}

// ---- Routing and live updates ----

let view = null

function route() {
  const path = decodeURIComponent(location.hash.replace(/^#/, '')) || '/'
  const [, section, name] = path.split('/')
  view = section === 'topics' && name ? topic(name)
    : section === 'topics' ? topics()
      : section === 'groups' ? groups()
        : section === 'requests' ? requests()
          : section === 'faults' ? faults()
            : overview()
  for (const link of document.querySelectorAll('nav a')) {
    const here = link.getAttribute('href') === `#/${section || ''}`
    if (here) link.setAttribute('aria-current', 'page')
    else link.removeAttribute('aria-current')
  }
  document.getElementById('main').replaceChildren(view.root)
  view.refresh().catch(problem)
}

/** Refreshes the view if the change touches what it shows (its own topic's records, for a topic). */
function changed(change) {
  if (!view) return
  const kinds = change.changed
  const relevant = kinds.includes('all') || view.on.some((k) => kinds.includes(k) &&
    (k !== 'records' || !view.topic || change.topics.includes(view.topic)))
  if (relevant) view.refresh().catch(problem)
}

function listen() {
  const live = document.getElementById('live')
  const events = new EventSource('/api/events')
  events.addEventListener('open', () => { live.textContent = 'live'; live.classList.add('on') })
  events.addEventListener('error', () => { live.textContent = 'disconnected, retrying…'; live.classList.remove('on') })
  events.addEventListener('change', (e) => changed(JSON.parse(e.data)))
}

window.addEventListener('hashchange', route)
route()
listen()
