package load

import (
	"fmt"
	"strings"

	"github.com/labtrail/labtrail/schemas"
)

// stageDurations is the stage_durations view of stages: one row per item
// and stage occurrence (or per item, for a stage that sums its repeats).
//
// Each stage's starts and ends are the instants of its event kinds
// (schemas.EventKinds), kept to the resource types both can apply to.
// Per stage and item, each start pairs with the first end at or after it
// (an ASOF join); starts that share an end collapse into the earliest of
// them, so "review requested twice, merged once" is one occurrence from
// the first request; starts with no end yet collapse likewise into one
// open occurrence (ended_at and duration NULL), which is necessarily the
// last. A sum stage adds its occurrences' durations into one row per item,
// open (NULL end and duration) while any occurrence is.
//
// DuckDB has no sum of intervals, so durations are added as a list
// reduce, which keeps the days-and-time form a single duration has.
//
// With no stages the view still exists, empty, with its columns, so that
// queries and BI tools written against it do not break.
func stageDurations(stages []schemas.Stage) string {
	starts := []string{"SELECT NULL::VARCHAR AS stage, NULL::VARCHAR AS repeats, NULL::VARCHAR AS resource_type, " +
		"NULL::BIGINT AS resource_id, NULL::BIGINT AS resource_iid, NULL::BIGINT AS project_id, NULL::BIGINT AS group_id, " +
		"NULL::TIMESTAMPTZ AS event_at WHERE false"}
	ends := []string{"SELECT NULL::VARCHAR AS stage, NULL::VARCHAR AS resource_type, NULL::BIGINT AS resource_id, " +
		"NULL::TIMESTAMPTZ AS event_at WHERE false"}
	for _, s := range stages {
		var types []string
		for _, p := range s.Resources() {
			types = append(types, schemas.QuoteLiteral(string(p)))
		}
		if len(types) == 0 {
			continue // config validation refuses such a stage; it could never pair
		}
		in := " WHERE resource_type IN (" + strings.Join(types, ", ") + ")"
		name := schemas.QuoteLiteral(s.Name)
		starts = append(starts, fmt.Sprintf("SELECT %s, %s, resource_type, resource_id, resource_iid, project_id, group_id, event_at FROM (%s)%s",
			name, schemas.QuoteLiteral(string(s.Repeats)), s.Start.SQL(), in))
		ends = append(ends, fmt.Sprintf("SELECT %s, resource_type, resource_id, event_at FROM (%s)%s", name, s.End.SQL(), in))
	}
	return `
WITH starts AS (
  ` + strings.Join(starts, "\n  UNION ALL\n  ") + `
),
ends AS (
  ` + strings.Join(ends, "\n  UNION ALL\n  ") + `
),
paired AS (
  SELECT s.*, e.event_at AS ended_at
  FROM starts s ASOF LEFT JOIN ends e
    ON s.stage = e.stage AND s.resource_type = e.resource_type AND s.resource_id = e.resource_id AND s.event_at <= e.event_at
),
occurrences AS (
  SELECT stage, any_value(repeats) AS repeats, resource_type, resource_id, min(resource_iid) AS resource_iid,
         min(project_id) AS project_id, min(group_id) AS group_id, min(event_at) AS started_at, ended_at,
         row_number() OVER (PARTITION BY stage, resource_type, resource_id ORDER BY min(event_at)) AS occurrence
  FROM paired GROUP BY stage, resource_type, resource_id, ended_at
)
SELECT stage, resource_type, resource_id, resource_iid, project_id, group_id, occurrence, 1::BIGINT AS occurrences,
       started_at, ended_at, ended_at - started_at AS duration
FROM occurrences WHERE repeats = 'separate'
UNION ALL
SELECT stage, resource_type, resource_id, min(resource_iid), min(project_id), min(group_id), NULL::BIGINT, count(*),
       min(started_at),
       CASE WHEN count(ended_at) = count(*) THEN max(ended_at) END,
       CASE WHEN count(ended_at) = count(*) THEN list_reduce(list(ended_at - started_at), (a, b) -> a + b) END
FROM occurrences WHERE repeats = 'sum'
GROUP BY stage, resource_type, resource_id`
}
