// What the task card may offer. The server decides: every task it sends carries `actions`,
// the actions the caller may take now, and the card shows exactly those buttons.
//
// The one thing decided here is a guess for actions still waiting in the outbox (offline):
// the status each leads to and the next step the person who queued it will want, so an
// engineer can accept, depart and arrive without a connection. The guess lasts only while
// the actions wait; the server's answer (its status and `actions`) replaces it, and a
// wrong guess comes back as a conflict.

export const STATUSES = ['new', 'accepted', 'en_route', 'in_progress', 'waiting_client', 'done', 'completed', 'postponed', 'cancelled'];

// action -> (template flags) -> {status: after it, actions: the next steps to offer}.
// Only forward steps are offered; the rest (postpone, refuse…) waits for the server.
const AFTER_QUEUED = {
  // A field visit departs before it checks in (R7): no arrive without a departure.
  accept: (tpl) => ({ status: 'accepted', actions: tpl?.has_departure ? ['depart'] : ['start'] }),
  assign: () => ({ status: 'accepted', actions: [] }),
  depart: () => ({ status: 'en_route', actions: ['arrive'] }),
  // On site: Done next; never "departed" again at one tap.
  arrive: () => ({ status: 'in_progress', actions: ['done'] }),
  start: () => ({ status: 'in_progress', actions: ['done'] }),
  done: (tpl) => ({ status: tpl?.requires_check ? 'done' : 'completed', actions: [] }),
  approve: () => ({ status: 'completed', actions: [] }),
  return: () => ({ status: 'in_progress', actions: [] }),
  release: () => ({ status: 'new', actions: ['accept'] }),
  postpone: () => ({ status: 'postponed', actions: [] }),
  redirect: () => ({ status: 'accepted', actions: [] }),
  refuse: () => ({ status: 'cancelled', actions: [] }),
};

/** The actions the server last said the caller may take on `task`. */
export function actionsOf(task) {
  return Array.isArray(task?.actions) ? task.actions : [];
}

/**
 * The task as it will likely be once `entries` (its pending outbox entries, in order)
 * reach the server. Only for queued actions: with nothing queued it is the server's task.
 * An entry the last known `actions` did not offer is skipped (the server already applied
 * it, or will refuse it and the outbox will say so).
 */
export function predictAfterQueued(task, entries, { template, me }) {
  let result = task;
  for (const entry of entries) {
    if (entry.kind !== 'transition' || entry.state !== 'pending') continue;
    const after = AFTER_QUEUED[entry.action];
    if (!after || !actionsOf(result).includes(entry.action)) continue;
    const next = after(template);
    result = { ...result, status: next.status, actions: next.actions, version: result.version + 1 };
    if (entry.action === 'accept') result.assignee = { id: me.id, full_name: me.full_name };
    if (entry.action === 'release') result.assignee = null;
    if (entry.action === 'done') result.completed_works = entry.body?.completed_works ?? result.completed_works;
  }
  return result;
}
