#!/usr/bin/env bash
# make demo: start the built-in demo GitLab, run labtrail twice (a full run,
# then new activity and an incremental run), and answer a few questions
# with `labtrail sql`. No token and no network are needed.
set -euo pipefail
cd "$(dirname "$0")/../.."
ADDR=127.0.0.1:8929
export GITLAB_TOKEN=demo-token
rm -rf demo
mkdir -p demo
./bin/demo-gitlab -addr "$ADDR" -token "$GITLAB_TOKEN" -seed 1 2>demo/gitlab.log &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  curl -fsS -o /dev/null -H "PRIVATE-TOKEN: $GITLAB_TOKEN" "http://$ADDR/api/v4/user" 2>/dev/null && break
  sleep 0.1
done

echo "== first run (full backfill)"
./bin/labtrail run -c pipelines.yaml --summary demo/run1.json
echo
echo "== new activity on the demo GitLab, then an incremental run"
curl -fsS -X POST -H "PRIVATE-TOKEN: $GITLAB_TOKEN" "http://$ADDR/demo/activity" >/dev/null
./bin/labtrail run -c pipelines.yaml --summary demo/run2.json
echo
sql() { echo "-- $1"; ./bin/labtrail sql -c pipelines.yaml "$2"; echo; }
sql "Rows per table" "SELECT 'events' AS t, count(*) FROM events UNION ALL SELECT 'label_events', count(*) FROM label_events UNION ALL SELECT 'state_events', count(*) FROM state_events UNION ALL SELECT 'milestone_events', count(*) FROM milestone_events UNION ALL SELECT 'iteration_events', count(*) FROM iteration_events UNION ALL SELECT 'weight_events', count(*) FROM weight_events UNION ALL SELECT 'audit_events', count(*) FROM audit_events"
sql "Most active authors" "SELECT author_username, count(*) AS events FROM events GROUP BY 1 ORDER BY 2 DESC LIMIT 5"
sql "Longest spans with priority::high (label_intervals)" "SELECT resource_type, project_id, resource_iid, label_name, added_at, removed_at, duration FROM label_intervals WHERE label_name = 'priority::high' AND duration IS NOT NULL ORDER BY duration DESC LIMIT 5"
sql "Median cycle time by project (cycle_times)" "SELECT project_id, resource_type, count(*) AS closed, median(cycle_time) AS median_cycle_time, sum(reopen_count) AS reopens FROM cycle_times WHERE cycle_time IS NOT NULL GROUP BY ALL ORDER BY ALL"
sql "Time in review (workflow_intervals: work-item status where recorded, else workflow:: labels)" "SELECT source, stage, count(*) AS spans, median(duration) AS median, max(duration) AS longest, count(*) FILTER (ended_at IS NULL) AS still_in_review FROM workflow_intervals WHERE lower(stage) IN ('review', 'in review') GROUP BY ALL ORDER BY ALL"
sql "Assignment history (assignment_intervals; inferred: assigned now, no note recorded)" "SELECT resource_type, resource_iid, role, username, assigned_at, unassigned_at, duration, inferred FROM assignment_intervals ORDER BY project_id, resource_type, resource_iid, role, assigned_at, username LIMIT 8"
sql "Stage percentiles in days (stage_durations, stages defined in pipelines.yaml)" "SELECT stage, count(duration) AS done, round(quantile_cont(epoch(duration), 0.5) / 86400, 1) AS p50_days, round(quantile_cont(epoch(duration), 0.9) / 86400, 1) AS p90_days, count(*) - count(duration) AS still_open FROM stage_durations GROUP BY 1 ORDER BY 1"
sql "Audit events by scope and event (audit_events)" "SELECT scope_type, event_name, count(*) AS events, max(created_at) AS latest FROM audit_events GROUP BY ALL ORDER BY events DESC LIMIT 8"
sql "Open issues per assignee (issue_assignees bridge)" "SELECT u.username, count(*) AS open_issues FROM issue_assignees a JOIN issues i ON i.id = a.issue_id JOIN users u ON u.id = a.user_id WHERE i.state = 'opened' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5"
sql "Same rows in Parquet as in DuckDB" "SELECT (SELECT count(*) FROM read_parquet('demo/parquet/events/**/*.parquet', hive_partitioning = true)) AS parquet_events, (SELECT count(*) FROM events) AS duckdb_events"
sql "Last runs" "SELECT run_id, outcome, requests, retries, throttled, rows_json FROM _labtrail_runs ORDER BY started_at"
