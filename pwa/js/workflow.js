// The task state machine as the server declares it (server/tasks/workflow.py), used to
// show only the buttons that can work and to predict the state after offline actions.
// The server stays the judge: a wrong prediction comes back as a conflict.

export const STATUSES = ['new', 'accepted', 'en_route', 'in_progress', 'waiting_client', 'done', 'completed', 'postponed', 'cancelled'];
const OPEN_WORK = ['accepted', 'en_route', 'in_progress', 'waiting_client'];
const ACTIVE = ['new', ...OPEN_WORK];

const to = (from, target) => Object.fromEntries(from.map((s) => [s, target]));

export function transitions(template) {
  const table = {
    accept: { new: 'accepted' },
    assign: { new: 'accepted' },
    release: to(OPEN_WORK, 'new'),
    postpone: to(ACTIVE, 'postponed'),
    redirect: to(ACTIVE, 'accepted'),
    refuse: to([...ACTIVE, 'postponed'], 'cancelled'),
  };
  if (template?.has_departure) {
    table.depart = { accepted: 'en_route', in_progress: 'en_route' };
    table.arrive = { accepted: 'in_progress', en_route: 'in_progress' };
  } else {
    table.start = { accepted: 'in_progress' };
  }
  if (template?.requires_check) {
    table.done = { in_progress: 'done' };
    table.approve = { done: 'completed' };
    table.return = { done: 'in_progress' };
  } else {
    table.done = to(OPEN_WORK, 'completed');
  }
  return table;
}

export function allows(template, status, action) {
  return Boolean(transitions(template)[action]?.[status]);
}

/** The task as it will be once `entries` (pending outbox actions on it) reach the server. */
export function predict(task, template, entries, me) {
  let result = { ...task };
  for (const entry of entries) {
    if (entry.kind !== 'transition') continue;
    const target = transitions(template)[entry.action]?.[result.status];
    if (!target) continue;
    result = { ...result, status: target, version: result.version + 1 };
    if (entry.action === 'accept') result.assignee = { id: me.id, full_name: me.full_name };
    if (entry.action === 'release') result.assignee = null;
    if (entry.action === 'done') result.completed_works = entry.body?.completed_works ?? result.completed_works;
  }
  return result;
}
