package load

import (
	"context"
	"fmt"
	"strings"

	"github.com/labtrail/labtrail/schemas"
)

// UserIDs returns the ids of the stored users (the users dimension, which
// holds every user a run has referenced so far, this run's included) whose
// usernames are among names, keyed by lower-cased username: GitLab
// usernames are case-insensitive. Names no stored user has are absent.
func (w *Warehouse) UserIDs(ctx context.Context, names []string) (map[string]int64, error) {
	out := make(map[string]int64, len(names))
	if len(names) == 0 {
		return out, nil
	}
	lower := make([]string, len(names))
	for i, n := range names {
		lower[i] = strings.ToLower(n)
	}
	rows, err := w.db.QueryContext(ctx, "SELECT lower(username), "+quoteIdent(schemas.ColID)+" FROM "+quoteIdent(schemas.Users.Name)+
		" WHERE lower(username) IN (SELECT unnest(?::VARCHAR[]))", lower)
	if err != nil {
		return nil, fmt.Errorf("load: looking up %d usernames: %w", len(names), err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var id int64
		if err := rows.Scan(&name, &id); err != nil {
			return nil, fmt.Errorf("load: looking up usernames: %w", err)
		}
		out[name] = id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load: looking up usernames: %w", err)
	}
	return out, nil
}
