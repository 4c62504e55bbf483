package pipeline

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/schemas"
)

// maxNames bounds the usernames a run remembers. Past it the cache starts
// over: a bound on memory (a run naming more distinct users than this is
// rare), at the price of asking again for names seen before.
const maxNames = 1 << 16

// usernames resolves the usernames system notes name ("assigned to
// @alice") to user ids, for one run. REST system notes carry only the
// name. Known at once are the stored users (the users dimension, read
// before the units start: seed) and every user this run has referenced so
// far (authors, assignees, reviewers: learn, as their dimension rows are
// cut; a parent's are cut before its notes are read). The rest are
// looked up with one GET /users?username= each, at most once a run
// (while the cache holds the name), counted as lookups of the activity
// stream.
// "No such user" (deleted or renamed since) is an answer too, and cached.
// Safe for concurrent use: parents are read in parallel, and a name two
// of them need at once is looked up once.
type usernames struct {
	r  *Runner
	mu sync.Mutex
	m  map[string]*nameEntry // by lower-cased name
}

// nameEntry is one name's answer; done is closed once id or err is set.
type nameEntry struct {
	done chan struct{}
	id   *int64
	err  error
}

// names returns the run's username resolver, made on first use.
func (r *Runner) names() *usernames {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.resolver == nil {
		r.resolver = &usernames{r: r, m: map[string]*nameEntry{}}
	}
	return r.resolver
}

// resolve returns the id of each of names (nil where no user has it), and
// the users the API answered with, for the users dimension.
func (u *usernames) resolve(ctx context.Context, names []string) ([]*int64, []extract.User, error) {
	entries := make([]*nameEntry, len(names))
	mine := map[string]*nameEntry{}
	u.mu.Lock()
	for i, n := range names {
		k := strings.ToLower(n)
		e, ok := u.m[k]
		if !ok {
			if e, ok = mine[k]; !ok {
				e = &nameEntry{done: make(chan struct{})}
				u.put(k, e)
				mine[k] = e
			}
		}
		entries[i] = e
	}
	u.mu.Unlock()
	var found []extract.User
	if len(mine) > 0 {
		found = u.lookup(ctx, mine)
	}
	ids := make([]*int64, len(names))
	for i, e := range entries {
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		if e.err != nil {
			return nil, nil, e.err
		}
		ids[i] = e.id
	}
	return ids, found, nil
}

// seed fills the cache with the stored users. DuckDB is read here, before
// any unit runs, and never from a unit.
func (u *usernames) seed(ctx context.Context) error {
	if u.r.Warehouse == nil {
		return nil
	}
	stored, err := u.r.Warehouse.Usernames(ctx, maxNames)
	if err != nil {
		return err
	}
	for name, id := range stored {
		u.learn(id, name)
	}
	return nil
}

// learn records that the user with this id has this username.
func (u *usernames) learn(id int64, name string) {
	if name == "" {
		return
	}
	k := strings.ToLower(name)
	u.mu.Lock()
	defer u.mu.Unlock()
	if e, ok := u.m[k]; ok {
		select {
		case <-e.done:
			if e.id != nil && *e.id == id {
				return
			}
		default:
			return // a lookup in flight answers it
		}
	}
	e := &nameEntry{done: make(chan struct{}), id: &id}
	close(e.done)
	u.put(k, e)
}

// put caches e as name k, starting over when the cache holds maxNames.
// The caller holds u.mu.
func (u *usernames) put(k string, e *nameEntry) {
	if len(u.m) >= maxNames {
		u.m = map[string]*nameEntry{}
	}
	u.m[k] = e
}

// lookup answers the entries this caller claimed with the API. A failed
// lookup is forgotten (so a later parent asks again) and reported to
// every caller waiting on it.
func (u *usernames) lookup(ctx context.Context, mine map[string]*nameEntry) []extract.User {
	settle := func(k string, e *nameEntry, id *int64, err error) {
		e.id, e.err = id, err
		if err != nil {
			u.mu.Lock()
			if u.m[k] == e {
				delete(u.m, k)
			}
			u.mu.Unlock()
		}
		close(e.done)
	}
	var found []extract.User
	counter := u.r.Counters.stream(schemas.ActivityStream.Name())
	for k, e := range mine {
		if counter != nil {
			counter.Lookups.Add(1)
		}
		user, err := extract.UserByUsername(ctx, u.r.Client, k)
		switch {
		case err != nil:
			settle(k, e, nil, fmt.Errorf("resolving @%s named in a system note: %w", k, err))
		case user == nil:
			settle(k, e, nil, nil)
		default:
			id := user.ID
			found = append(found, *user)
			settle(k, e, &id, nil)
		}
	}
	return found
}
