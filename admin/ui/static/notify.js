// Browser notifications and the title badge. Browsers only let a page ask
// for notification permission during a user gesture, so askPermission is
// called from a click (the "Notify me" button, or choosing Available).

const BASE_TITLE = 'Conversa';

export function notificationsSupported() {
  return 'Notification' in window;
}

export function permission() {
  return notificationsSupported() ? Notification.permission : 'denied';
}

export async function askPermission() {
  if (!notificationsSupported() || Notification.permission !== 'default') return permission();
  try {
    return await Notification.requestPermission();
  } catch {
    return permission();
  }
}

// notify shows a notification when allowed. tag groups notifications of one
// conversation so that a busy chat does not pile them up.
export function notify(title, body, tag, onClick) {
  if (permission() !== 'granted') return;
  try {
    const n = new Notification(title, { body, tag, icon: '/static/icon.svg', renotify: true });
    n.addEventListener('click', () => {
      window.focus();
      if (onClick) onClick();
      n.close();
    });
  } catch {
    // Some browsers allow notifications only from a service worker: the
    // title badge still tells the agent.
  }
}

// setBadge puts "(n) " in front of the page title.
export function setBadge(n) {
  const title = n > 0 ? `(${n}) ${BASE_TITLE}` : BASE_TITLE;
  if (document.title !== title) document.title = title;
}
