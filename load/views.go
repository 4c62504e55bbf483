package load

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/labtrail/labtrail/schemas"
)

// History views turn the raw event tables into the answers people want
// (time in a label, time in a state, cycle time, milestone moves), so that
// nobody has to rewrite interval logic by hand. They are plain SQL views:
// always current, never stale, created or replaced on every run.
// view is a history view: its name and the query it stands for.
type view struct{ name, sql string }

var views = []view{
	// label_intervals: one row per span during which a label was on an
	// issue, MR or epic. Per resource and label, in (created_at, id)
	// order: an add opens a span unless one is open, a remove closes the
	// open span (and is ignored if none is). Since the state after any
	// event is simply "open" after an add and "closed" after a remove, a
	// span starts at an add whose predecessor is not an add and ends at a
	// remove whose predecessor is an add; starts and ends then alternate,
	// so the n-th start pairs with the n-th end. Events without a label
	// (deleted labels) are ignored.
	{"label_intervals", `
WITH ev AS (
  SELECT *, lag(action) OVER (PARTITION BY resource_type, resource_id, label_id ORDER BY created_at, id) AS prev_action
  FROM label_events
  WHERE label_id IS NOT NULL AND action IN ('add', 'remove')
),
starts AS (
  SELECT *, row_number() OVER (PARTITION BY resource_type, resource_id, label_id ORDER BY created_at, id) AS n
  FROM ev WHERE action = 'add' AND (prev_action IS NULL OR prev_action = 'remove')
),
ends AS (
  SELECT *, row_number() OVER (PARTITION BY resource_type, resource_id, label_id ORDER BY created_at, id) AS n
  FROM ev WHERE action = 'remove' AND prev_action = 'add'
)
SELECT s.resource_type, s.resource_id, s.project_id, s.group_id, s.resource_iid, s.label_id,
       coalesce(l.name, s.label_name) AS label_name,
       s.created_at AS added_at, e.created_at AS removed_at,
       s.user_id AS added_by, e.user_id AS removed_by,
       e.created_at - s.created_at AS duration
FROM starts s
LEFT JOIN ends e USING (resource_type, resource_id, label_id, n)
LEFT JOIN labels l ON l.id = s.label_id`},

	// state_intervals: consecutive spans of state per issue, MR and epic.
	// GitLab records no state event for creation, so the first span is
	// "opened" from the parent's created_at; each state event then starts
	// a span that ends at the next one, and the last stays open.
	{"state_intervals", `
WITH parents AS (
  SELECT 'Issue' AS resource_type, id AS resource_id, project_id, NULL::BIGINT AS group_id, iid AS resource_iid, created_at FROM issues
  UNION ALL
  SELECT 'MergeRequest', id, project_id, NULL::BIGINT, iid, created_at FROM merge_requests
  UNION ALL
  SELECT 'Epic', id, NULL::BIGINT, group_id, iid, created_at FROM epics
),
spans AS (
  SELECT resource_type, resource_id, project_id, group_id, resource_iid, 'opened' AS state,
         created_at AS started_at, 0 AS seq, NULL::BIGINT AS event_id, NULL::BIGINT AS user_id
  FROM parents
  UNION ALL
  SELECT resource_type, resource_id, project_id, group_id, resource_iid, state, created_at, 1, id, user_id
  FROM state_events
)
SELECT resource_type, resource_id, project_id, group_id, resource_iid, state, started_at,
       lead(started_at) OVER w AS ended_at,
       lead(started_at) OVER w - started_at AS duration,
       event_id, user_id AS changed_by
FROM spans
WINDOW w AS (PARTITION BY resource_type, resource_id ORDER BY started_at, seq, event_id)`},

	// cycle_times: per issue and MR, from creation to the first close or
	// merge, and how often it was reopened.
	{"cycle_times", `
WITH parents AS (
  SELECT 'Issue' AS resource_type, id AS resource_id, project_id, iid AS resource_iid, title, created_at FROM issues
  UNION ALL
  SELECT 'MergeRequest', id, project_id, iid, title, created_at FROM merge_requests
),
done AS (
  SELECT resource_type, resource_id,
         min(created_at) FILTER (WHERE state IN ('closed', 'merged')) AS first_closed_at,
         count(*) FILTER (WHERE state = 'reopened') AS reopen_count
  FROM state_events
  WHERE resource_type IN ('Issue', 'MergeRequest')
  GROUP BY ALL
)
SELECT p.resource_type, p.resource_id, p.project_id, p.resource_iid, p.title, p.created_at,
       d.first_closed_at, d.first_closed_at - p.created_at AS cycle_time,
       coalesce(d.reopen_count, 0) AS reopen_count
FROM parents p LEFT JOIN done d USING (resource_type, resource_id)`},

	// milestone_changes: every milestone event with the milestone's title
	// and due date, the milestone it replaced and whether the change moved
	// the work to a later or an earlier due date. GitLab records a change
	// of milestone as one add (of the new one) and an unset as a remove
	// (of the old one), so an add replaced the milestone of the resource's
	// previous event only if that event was an add: after a remove, or
	// first, it replaced nothing ('assigned'); after an add of a deleted
	// milestone, it replaced one we cannot know ('unknown'). Due dates come
	// from the milestones table (latest known), else from the event itself.
	{"milestone_changes", `
WITH ev AS (
  SELECT e.*, coalesce(m.title, e.milestone_title) AS title, coalesce(m.due_date, e.milestone_due_date) AS due_date
  FROM milestone_events e LEFT JOIN milestones m ON m.id = e.milestone_id
),
seq AS (
  SELECT *,
         lag(action) OVER w = 'add' AS replaces,
         lag(milestone_id) OVER w AS previous_milestone_id,
         lag(title) OVER w AS previous_milestone_title,
         lag(due_date) OVER w AS previous_due_date
  FROM ev
  WINDOW w AS (PARTITION BY resource_type, resource_id ORDER BY created_at, id)
)
SELECT id, resource_type, resource_id, project_id, group_id, resource_iid, created_at, user_id, action,
       milestone_id, title AS milestone_title, due_date AS milestone_due_date,
       CASE WHEN action = 'add' AND replaces THEN previous_milestone_id END AS previous_milestone_id,
       CASE WHEN action = 'add' AND replaces THEN previous_milestone_title END AS previous_milestone_title,
       CASE WHEN action = 'add' AND replaces THEN previous_due_date END AS previous_due_date,
       CASE WHEN action = 'add' AND replaces THEN due_date - previous_due_date END AS due_date_shift_days,
       CASE
         WHEN action = 'remove' THEN 'removed'
         WHEN replaces IS NOT TRUE OR previous_milestone_id = milestone_id THEN 'assigned'
         WHEN due_date IS NULL OR previous_due_date IS NULL THEN 'unknown'
         WHEN due_date > previous_due_date THEN 'later'
         WHEN due_date < previous_due_date THEN 'earlier'
         ELSE 'same'
       END AS direction
FROM seq`},
}

// ViewOptions are the parts of the history views that come from the
// config. The views are replaced on every Open, so a changed config takes
// effect at the next run (or compact) and never lingers.
type ViewOptions struct {
	// WorkflowLabelPrefix marks the scoped labels workflow_intervals reads
	// stages from; config fills its default (workflow::).
	WorkflowLabelPrefix string
	// Stages are the value-stream stages of stage_durations; none leaves
	// the view empty.
	Stages []schemas.Stage
}

// CreateViews creates or replaces the history views, in one transaction
// (one WAL fsync rather than one a view). The tables they read must exist.
func CreateViews(ctx context.Context, db *sql.DB, opts ViewOptions) error {
	all := append(views[:len(views):len(views)],
		view{"assignment_intervals", assignmentIntervals},
		view{"workflow_intervals", workflowIntervals(opts.WorkflowLabelPrefix)},
		view{"stage_durations", stageDurations(opts.Stages)})
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("creating views: %w", err)
	}
	for _, v := range all {
		if _, err := tx.ExecContext(ctx, "CREATE OR REPLACE VIEW "+v.name+" AS "+v.sql); err != nil {
			return errors.Join(fmt.Errorf("creating view %s: %w", v.name, err), tx.Rollback())
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("creating views: %w", err)
	}
	return nil
}
