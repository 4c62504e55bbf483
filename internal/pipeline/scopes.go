package pipeline

import (
	"context"
	"errors"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/config"
	"github.com/labtrail/labtrail/schemas"
	"github.com/labtrail/labtrail/transform"
)

// scopes are a pipeline's resolved projects, groups and users.
type scopes struct {
	projects []extract.Project // named, and those of named groups; each once
	groups   []extract.Group
	users    []extract.User
	me       *extract.User // the token's user, when current_user is set
	seen     map[int64]bool
	// epicGroups are the groups whose epics are read: see epicGroups.
	epicGroups []extract.Group
	// instance: the instance's audit events are read.
	instance bool
	// auditProjects and auditGroups are the scopes whose own audit
	// events are read: see restrict.
	auditProjects []extract.Project
	auditGroups   []extract.Group
	// elsewhere are the projects and groups (by scope key) pl reads that
	// another shard reads: rows of theirs that a user's events or the
	// instance's audit events also list are that shard's to store.
	elsewhere map[string]bool
}

// restrict keeps what shard sh reads of s (see Shard): the projects and
// groups it owns, and the users, current user and instance on shard 0.
// epicGroups is decided over every named group first, so that a subgroup
// on another shard than its parent is still read only through the parent.
func (s *scopes) restrict(sh Shard) {
	s.epicGroups = slices.DeleteFunc(epicGroups(s.groups), func(g extract.Group) bool { return !sh.owns(schemas.ScopeGroup, g.ID) })
	instance := s.instance
	if instance {
		// The instance lists every project's and group's audit events:
		// shard 0 reads them all, as one run does, since a project
		// whose own listing is refused (Free) still has its rows listed
		// by the instance.
		s.auditProjects, s.auditGroups = s.projects, s.groups
		if !sh.primary() {
			s.auditProjects, s.auditGroups = nil, nil
		}
	}
	s.elsewhere = map[string]bool{}
	s.groups = slices.DeleteFunc(s.groups, func(g extract.Group) bool { return !s.owned(sh, schemas.ScopeGroup, g.ID) })
	s.projects = slices.DeleteFunc(s.projects, func(p extract.Project) bool { return !s.owned(sh, schemas.ScopeProject, p.ID) })
	if !sh.primary() {
		s.users, s.me, s.instance = nil, nil, false
	}
	if !instance {
		s.auditProjects, s.auditGroups = s.projects, s.groups
	}
}

// owned reports whether sh reads the project or group id, and remembers
// it in elsewhere when not.
func (s *scopes) owned(sh Shard, kind schemas.ScopeKind, id int64) bool {
	if sh.owns(kind, id) {
		return true
	}
	s.elsewhere[kind.Key(id)] = true
	return false
}

// keepEvent reports whether a user's or the current user's event is
// stored by this shard: not when it belongs to a project another shard
// reads, whose own events listing stores it.
func (s *scopes) keepEvent(e *extract.Event) bool {
	return e.ProjectID == nil || !s.elsewhere[schemas.ScopeProject.Key(*e.ProjectID)]
}

func (s *scopes) addProject(p extract.Project) {
	// A project reached twice (named and in a group) is read once.
	if !s.seen[p.ID] {
		s.seen[p.ID] = true
		s.projects = append(s.projects, p)
	}
}

// plan resolves a pipeline's scopes into units. A project, group or user
// that cannot be resolved fails on its own (listed in the result); only
// fatal errors are returned.
func (r *Runner) plan(ctx context.Context, pl config.Pipeline) ([]unit, error) {
	s, err := r.resolve(ctx, pl)
	if err != nil {
		return nil, err
	}
	if err := r.upsert(ctx, schemas.Projects, func(b *transform.Builder) {
		for i := range s.projects {
			transform.AppendProject(b, &s.projects[i])
		}
	}); err != nil {
		return nil, err
	}
	users := s.users
	if s.me != nil {
		users = append(slices.Clone(users), *s.me)
	}
	if err := r.upsert(ctx, schemas.Users, func(b *transform.Builder) {
		for i := range users {
			transform.AppendUser(b, &users[i])
		}
	}); err != nil {
		return nil, err
	}
	units, err := r.units(pl, s)
	if err != nil {
		return nil, fatal(err)
	}
	r.Log.Info("planned", "pipeline", pl.Name, "projects", len(s.projects), "groups", len(s.groups),
		"users", len(s.users), "units", len(units))
	return units, nil
}

// resolve looks up every project, group (with its projects) and user pl
// names.
//
// The lookups are independent chains of requests, so they are sent at once
// (the client's pool bounds them) rather than one after another: a file
// naming fifty projects would otherwise wait fifty round trips before its
// first unit starts. They are applied in the file's order, so what is
// planned never depends on which answered first. A fatal error (a rejected
// token, a cancelled run) stops the other lookups.
func (r *Runner) resolve(ctx context.Context, pl config.Pipeline) (*scopes, error) {
	type lookup[T any] struct {
		v      T
		listed []extract.Project // a group's projects
		err    error
	}
	projects := make([]lookup[extract.Project], len(pl.Projects))
	groups := make([]lookup[extract.Group], len(pl.Groups))
	users := make([]lookup[extract.User], len(pl.Users))
	var me lookup[extract.User]
	var lookups []func(context.Context) error
	for i, ref := range pl.Projects {
		lookups = append(lookups, func(ctx context.Context) error {
			l := &projects[i]
			l.v, l.err = r.Client.Project(ctx, ref.String())
			return l.err
		})
	}
	for i, ref := range pl.Groups {
		lookups = append(lookups, func(ctx context.Context) error {
			l := &groups[i]
			if l.v, l.err = r.Client.Group(ctx, ref.String()); l.err == nil {
				// A group's projects count only once the whole listing is
				// read: a listing that fails part-way (a server that never
				// ends it, say) fails the group without planning what it
				// sent so far.
				l.err = r.Client.GroupProjects(ctx, l.v.ID, func(ps []extract.Project) error {
					l.listed = append(l.listed, ps...)
					return nil
				})
			}
			return l.err
		})
	}
	for i, ref := range pl.Users {
		lookups = append(lookups, func(ctx context.Context) error {
			l := &users[i]
			l.v, l.err = r.Client.User(ctx, ref.String())
			return l.err
		})
	}
	if pl.CurrentUser {
		lookups = append(lookups, func(ctx context.Context) error {
			me.v, me.err = r.Client.CurrentUser(ctx)
			return me.err
		})
	}
	// The first lookup goes alone: what only a run's first answer can
	// tell (a rejected token, a gitlab.url that redirects to a sign-in
	// page) then ends the run after one request, not one per lookup.
	if len(lookups) > 0 {
		if err := lookups[0](ctx); err != nil && isFatal(ctx, err) {
			return nil, err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.Concurrency)
	for _, look := range lookups[min(1, len(lookups)):] {
		g.Go(func() error {
			if err := look(gctx); err != nil && isFatal(gctx, err) {
				return err
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	s := &scopes{seen: map[int64]bool{}, instance: pl.InstanceAuditEvents}
	for i, ref := range pl.Projects {
		if ok, err := r.resolved(ctx, pl, schemas.ScopeProject, ref.String(), projects[i].err); !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		s.addProject(projects[i].v)
	}
	for i, ref := range pl.Groups {
		if ok, err := r.resolved(ctx, pl, schemas.ScopeGroup, ref.String(), groups[i].err); !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		for _, p := range groups[i].listed {
			s.addProject(p)
		}
		s.groups = append(s.groups, groups[i].v)
	}
	for i, ref := range pl.Users {
		if ok, err := r.resolved(ctx, pl, schemas.ScopeUser, ref.String(), users[i].err); !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		s.users = append(s.users, users[i].v)
	}
	if pl.CurrentUser {
		if ok, err := r.resolved(ctx, pl, schemas.ScopeCurrentUser, "", me.err); !ok && err != nil {
			return nil, err
		} else if ok {
			s.me = &me.v
		}
	}
	s.restrict(r.Shard)
	return s, nil
}

// resolved reports whether looking up the scope named ref of kind k
// succeeded (err == nil). Otherwise the scope fails on its own, and a
// fatal err is handed back to end the run.
func (r *Runner) resolved(ctx context.Context, pl config.Pipeline, k schemas.ScopeKind, ref string, err error) (bool, error) {
	if err == nil {
		return true, nil
	}
	if isFatal(ctx, err) {
		return false, err
	}
	r.fail(pl.Name, strings.TrimSpace(string(k)+" "+ref), err)
	return false, nil
}

// units splits resolved scopes into units: one per Events API source, and
// one per parent listing with the families pl reads for it.
func (r *Runner) units(pl config.Pipeline, s *scopes) ([]unit, error) {
	var units []unit
	if pl.HasStream(schemas.EventsStream) {
		for _, p := range s.projects {
			units = append(units, r.eventsUnit(pl, extract.EventSource{Kind: schemas.ScopeProject, ID: p.ID}, nil))
		}
		for _, u := range s.users {
			units = append(units, r.eventsUnit(pl, extract.EventSource{Kind: schemas.ScopeUser, ID: u.ID}, s.keepEvent))
		}
		if s.me != nil {
			units = append(units, r.eventsUnit(pl, extract.EventSource{Kind: schemas.ScopeCurrentUser}, s.keepEvent))
		}
	}
	for _, sc := range auditScopes(pl, s) {
		units = append(units, r.auditUnit(pl, sc))
	}
	byScope := map[schemas.ScopeKind][]int64{}
	for _, p := range s.projects {
		byScope[schemas.ScopeProject] = append(byScope[schemas.ScopeProject], p.ID)
	}
	for _, g := range s.epicGroups {
		byScope[schemas.ScopeGroup] = append(byScope[schemas.ScopeGroup], g.ID)
	}
	for _, sk := range []schemas.ScopeKind{schemas.ScopeProject, schemas.ScopeGroup} {
		for _, id := range byScope[sk] {
			for _, k := range schemas.ParentKinds() {
				fams, err := familiesOf(pl, k, r)
				if err != nil {
					return nil, err
				}
				if k.Scope() == sk && len(fams) > 0 {
					units = append(units, r.parentsUnit(pl, k, id, fams))
				}
			}
		}
	}
	return units, nil
}

// auditScopes are the scopes whose audit events pl reads: its projects
// (named, and those of named groups), its named groups (a group's audit
// events are its own, not its subgroups'), each once, and the instance
// when asked (and this is shard 0).
func auditScopes(pl config.Pipeline, s *scopes) []extract.AuditScope {
	if !pl.HasStream(schemas.AuditEventsStream) {
		return nil
	}
	var out []extract.AuditScope
	for _, p := range s.auditProjects {
		out = append(out, extract.AuditScope{Kind: schemas.ScopeProject, ID: p.ID})
	}
	for _, g := range s.auditGroups {
		sc := extract.AuditScope{Kind: schemas.ScopeGroup, ID: g.ID}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	if s.instance {
		out = append(out, extract.AuditScope{Kind: schemas.ScopeInstance})
	}
	return out
}

// epicGroups drops named groups that are descendants of other named
// groups: /groups/:id/epics already includes descendants' epics.
func epicGroups(gs []extract.Group) []extract.Group {
	var out []extract.Group
	for _, g := range gs {
		inner := slices.ContainsFunc(gs, func(o extract.Group) bool {
			return o.ID != g.ID && o.FullPath != "" && strings.HasPrefix(g.FullPath, o.FullPath+"/")
		})
		dup := slices.ContainsFunc(out, func(o extract.Group) bool { return o.ID == g.ID })
		if !inner && !dup {
			out = append(out, g)
		}
	}
	return out
}

// notLicensed reports whether err is the 403/404 GitLab answers for a
// Premium stream that is not licensed (or not allowed) here.
func notLicensed(err error) bool {
	return errors.Is(err, extract.ErrForbidden) || errors.Is(err, extract.ErrNotFound)
}
