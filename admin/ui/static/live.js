// Live updates: one EventSource on /api/v1/events for the whole console.
// The browser reconnects by itself (sending Last-Event-ID); when the server
// refuses the stream (the session ended) the EventSource closes for good,
// and this module opens a new one after checking the session, resuming from
// the last event it saw.

const TYPES = ['assigned', 'queued', 'message', 'status', 'ended', 'agent', 'reset'];

export class Live extends EventTarget {
  constructor(checkSession) {
    super();
    this.checkSession = checkSession;
    this.source = null;
    this.lastID = '';
    this.retry = 0;
    this.timer = 0;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.source) this.source.close();
    this.source = null;
  }

  get connected() {
    return !!this.source && this.source.readyState === EventSource.OPEN;
  }

  open() {
    const url = '/api/v1/events' + (this.lastID ? '?last_event_id=' + encodeURIComponent(this.lastID) : '');
    const src = new EventSource(url);
    this.source = src;
    src.addEventListener('open', () => {
      this.retry = 0;
      this.state(true);
    });
    src.addEventListener('error', () => {
      this.state(false);
      if (src.readyState === EventSource.CLOSED && !this.stopped) this.reopen();
    });
    for (const type of TYPES) {
      src.addEventListener(type, (e) => this.receive(type, e));
    }
  }

  async reopen() {
    this.source = null;
    // A closed stream often means a lost session: checkSession shows the
    // sign-in page in that case and answers false.
    const ok = await this.checkSession().catch(() => true);
    if (!ok || this.stopped) return;
    this.retry = Math.min(this.retry + 1, 6);
    this.timer = setTimeout(() => {
      if (!this.stopped) this.open();
    }, 1000 * 2 ** (this.retry - 1));
  }

  receive(type, e) {
    if (e.lastEventId) this.lastID = e.lastEventId;
    let data = {};
    try {
      data = JSON.parse(e.data || '{}');
    } catch {
      return;
    }
    if (!data.type) data.type = type;
    this.dispatchEvent(new CustomEvent('event', { detail: data }));
  }

  state(connected) {
    this.dispatchEvent(new CustomEvent('state', { detail: { connected } }));
  }
}
