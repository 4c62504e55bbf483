package load

import "github.com/labtrail/labtrail/schemas"

// assignmentIntervals is the assignment_intervals view: who was assigned,
// and who was asked to review, from when to when.
//
// The history is the activity table's assignee and reviewer notes. A note
// lists the users it added (added_user_ids) and removed
// (removed_user_ids); target_usernames are the usernames as the body
// wrote them, added ones first (GitLab writes "assigned to @a and
// unassigned @b"), so when the counts agree the k-th id is the k-th
// username. An id is null where the username was unknown: such a user is
// kept, by username. Per resource, role and user (its id, else its
// username), in (created_at, id) order, pairing follows label_intervals:
// an add opens a span unless one is open, a remove closes the open one,
// repeated adds and removes are ignored.
//
// GitLab's parents also say who is assigned now (issues.assignee_ids,
// merge_requests.assignee_ids and reviewer_ids), and a user can be
// assigned with no note recorded (set when the item was created, or
// activity not read yet). Such a user gets one open span from the
// parent's created_at with inferred = true, but only where no note at all
// names that user in that role on that item: where notes exist they win,
// even if they end closed (the parent row may be older or newer than the
// notes; inventing a reassignment instant would be worse than either).
const assignmentIntervals = `
WITH notes AS (
  SELECT *, len(target_usernames) = coalesce(len(added_user_ids), 0) + coalesce(len(removed_user_ids), 0) AS aligned
  FROM activity WHERE action IN ('assignee', 'reviewer')
),
indexed AS (
  SELECT *, 'add' AS change, unnest(range(1, coalesce(len(added_user_ids), 0) + 1)) AS i, 0 AS offs FROM notes
  UNION ALL
  SELECT *, 'remove', unnest(range(1, coalesce(len(removed_user_ids), 0) + 1)), coalesce(len(added_user_ids), 0) FROM notes
),
changes AS (
  SELECT x.resource_type, x.resource_id, x.resource_iid, x.project_id, x.group_id, x.action AS role,
         x.created_at, x.id, x.change, x.user_id AS by_id,
         CASE x.change WHEN 'add' THEN x.added_user_ids[x.i] ELSE x.removed_user_ids[x.i] END AS uid,
         CASE WHEN x.aligned THEN x.target_usernames[x.offs + x.i] END AS written
  FROM indexed x
),
keyed AS (
  SELECT c.*, coalesce(u.username, c.written) AS username, coalesce(c.uid::VARCHAR, '@' || c.written) AS ukey,
         lag(c.change) OVER (PARTITION BY c.resource_type, c.resource_id, c.role, coalesce(c.uid::VARCHAR, '@' || c.written)
                             ORDER BY c.created_at, c.id, c.change) AS prev
  FROM changes c LEFT JOIN users u ON u.id = c.uid
  WHERE c.uid IS NOT NULL OR c.written IS NOT NULL
),
starts AS (
  SELECT *, row_number() OVER (PARTITION BY resource_type, resource_id, role, ukey ORDER BY created_at, id, change) AS n
  FROM keyed WHERE change = 'add' AND (prev IS NULL OR prev = 'remove')
),
ends AS (
  SELECT *, row_number() OVER (PARTITION BY resource_type, resource_id, role, ukey ORDER BY created_at, id, change) AS n
  FROM keyed WHERE change = 'remove' AND prev = 'add'
),
current AS (
  SELECT 'Issue' AS resource_type, id AS resource_id, iid AS resource_iid, project_id, 'assignee' AS role,
         unnest(assignee_ids) AS user_id, created_at FROM issues
  UNION ALL
  SELECT 'MergeRequest', id, iid, project_id, 'assignee', unnest(assignee_ids), created_at FROM merge_requests
  UNION ALL
  SELECT 'MergeRequest', id, iid, project_id, 'reviewer', unnest(reviewer_ids), created_at FROM merge_requests
)
SELECT s.resource_type, s.resource_id, s.resource_iid, s.project_id, s.group_id, s.role, s.uid AS user_id, s.username,
       s.created_at AS assigned_at, e.created_at AS unassigned_at, e.created_at - s.created_at AS duration,
       s.by_id AS assigned_by, e.by_id AS unassigned_by, false AS inferred
FROM starts s LEFT JOIN ends e USING (resource_type, resource_id, role, ukey, n)
UNION ALL
SELECT c.resource_type, c.resource_id, c.resource_iid, c.project_id, NULL::BIGINT, c.role, c.user_id, u.username,
       c.created_at, NULL::TIMESTAMPTZ, NULL::INTERVAL, NULL::BIGINT, NULL::BIGINT, true
FROM current c LEFT JOIN users u ON u.id = c.user_id
WHERE c.user_id IS NOT NULL AND NOT EXISTS (
  SELECT 1 FROM keyed k
  WHERE k.resource_type = c.resource_type AND k.resource_id = c.resource_id AND k.role = c.role
    AND (k.uid = c.user_id OR (k.uid IS NULL AND k.written = u.username)))`

// workflowIntervals is the workflow_intervals view for labels named
// prefix<stage>: per item, the spans it spent in each workflow stage.
//
// An item for which GitLab records work-item status changes (activity
// work_item_status notes) takes its stages from them alone: each note
// starts a span of its new_value that ends at the next change; a note
// whose value is unknown (redacted) ends a span and starts none. Any other
// item takes them from its scoped labels: the stage is the label added
// last, until it is removed. GitLab records a move from workflow::a to
// workflow::b as an add of b and a remove of a at (about) the same
// instant, in either order; taking "the last added" makes the add of b
// end a's span and start b's at one instant, so adjacent spans meet
// exactly, and the remove of a (no longer the stage) is ignored. The
// state after each event is computed from the last add before it and
// whether its label was removed since; spans are then the runs of equal
// state, which also drops repeated adds and orphan removes.
func workflowIntervals(prefix string) string {
	p := schemas.QuoteLiteral(prefix)
	return `
WITH status_items AS (
  SELECT DISTINCT resource_type, resource_id FROM activity WHERE action = 'work_item_status'
),
label_ev AS (
  SELECT e.resource_type, e.resource_id, e.resource_iid, e.project_id, e.group_id, e.created_at, e.id, e.action,
         substr(coalesce(l.name, e.label_name), length(` + p + `) + 1) AS stage
  FROM label_events e LEFT JOIN labels l ON l.id = e.label_id
  WHERE e.action IN ('add', 'remove') AND starts_with(coalesce(l.name, e.label_name), ` + p + `)
    AND NOT EXISTS (SELECT 1 FROM status_items s WHERE s.resource_type = e.resource_type AND s.resource_id = e.resource_id)
),
last_add AS (
  SELECT *,
         max(CASE WHEN action = 'add' THEN seq END) OVER upto AS add_seq,
         last_value(CASE WHEN action = 'add' THEN stage END IGNORE NULLS) OVER upto AS add_stage
  FROM (SELECT *, row_number() OVER (PARTITION BY resource_type, resource_id ORDER BY created_at, id) AS seq FROM label_ev)
  WINDOW upto AS (PARTITION BY resource_type, resource_id ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
label_state AS (
  SELECT *, count(CASE WHEN action = 'remove' AND stage = add_stage THEN 1 END) OVER (
              PARTITION BY resource_type, resource_id, add_seq ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS removed
  FROM last_add
),
states AS (
  SELECT resource_type, resource_id, resource_iid, project_id, group_id, 'status' AS source, created_at, id, new_value AS state
  FROM activity WHERE action = 'work_item_status'
  UNION ALL
  SELECT resource_type, resource_id, resource_iid, project_id, group_id, 'label', created_at, id,
         CASE WHEN add_seq IS NOT NULL AND removed = 0 THEN add_stage END
  FROM label_state
),
changes AS (
  SELECT * FROM (
    SELECT *, state IS DISTINCT FROM lag(state) OVER (PARTITION BY resource_type, resource_id ORDER BY created_at, id) AS changed
    FROM states
  ) WHERE changed
),
spans AS (
  SELECT resource_type, resource_id, resource_iid, project_id, group_id, state AS stage, source, created_at AS started_at,
         lead(created_at) OVER (PARTITION BY resource_type, resource_id ORDER BY created_at, id) AS ended_at
  FROM changes
)
SELECT resource_type, resource_id, resource_iid, project_id, group_id, stage, source, started_at, ended_at,
       ended_at - started_at AS duration
FROM spans WHERE stage IS NOT NULL`
}
