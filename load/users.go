package load

import (
	"context"
	"fmt"
	"strconv"

	"github.com/labtrail/labtrail/schemas"
)

// Usernames returns up to limit stored users (the users dimension: every
// user earlier runs referenced) as lower-cased username → id: GitLab
// usernames are case-insensitive. Read once before a run's units start,
// so that no unit queries DuckDB while others write to it.
func (w *Warehouse) Usernames(ctx context.Context, limit int) (map[string]int64, error) {
	defer w.reading()()
	rows, err := w.db.QueryContext(ctx, "SELECT lower(username), "+quoteIdent(schemas.ColID)+" FROM "+quoteIdent(schemas.Users.Name)+
		" WHERE username IS NOT NULL ORDER BY "+quoteIdent(schemas.ColID)+" LIMIT "+strconv.Itoa(limit))
	if err != nil {
		return nil, fmt.Errorf("load: reading usernames: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var id int64
		if err := rows.Scan(&name, &id); err != nil {
			return nil, fmt.Errorf("load: reading usernames: %w", err)
		}
		out[name] = id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load: reading usernames: %w", err)
	}
	return out, nil
}
