package pipeline

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/config"
	"github.com/labtrail/labtrail/schemas"
	"github.com/labtrail/labtrail/transform"
)

// plan resolves a pipeline's scopes into units. A project, group or user
// that cannot be resolved fails on its own (listed in the result); only
// fatal errors are returned.
func (r *Runner) plan(ctx context.Context, pl config.Pipeline) ([]unit, error) {
	var (
		projects []extract.Project
		seen     = map[int64]bool{}
		groups   []extract.Group
		users    []extract.User
	)
	addProject := func(p extract.Project) {
		if !seen[p.ID] { // a project reached twice (named and in a group) is read once
			seen[p.ID] = true
			projects = append(projects, p)
		}
	}
	for _, ref := range pl.Projects {
		p, err := r.Client.Project(ctx, ref.String())
		if err != nil {
			if isFatal(ctx, err) {
				return nil, err
			}
			r.fail(pl.Name, "project "+ref.String(), err)
			continue
		}
		addProject(p)
	}
	for _, ref := range pl.Groups {
		g, err := r.Client.Group(ctx, ref.String())
		// A group's projects count only once the whole listing is read:
		// a listing that fails part-way (a server that never ends it,
		// say) fails the group without planning what it sent so far.
		var listed []extract.Project
		if err == nil {
			err = r.Client.GroupProjects(ctx, g.ID, func(ps []extract.Project) error {
				listed = append(listed, ps...)
				return nil
			})
		}
		if err != nil {
			if isFatal(ctx, err) {
				return nil, err
			}
			r.fail(pl.Name, "group "+ref.String(), err)
			continue
		}
		for _, p := range listed {
			addProject(p)
		}
		groups = append(groups, g)
	}
	for _, ref := range pl.Users {
		u, err := r.Client.User(ctx, ref.String())
		if err != nil {
			if isFatal(ctx, err) {
				return nil, err
			}
			r.fail(pl.Name, "user "+ref.String(), err)
			continue
		}
		users = append(users, u)
	}
	var me *extract.User
	if pl.CurrentUser {
		u, err := r.Client.CurrentUser(ctx)
		if err != nil {
			if isFatal(ctx, err) {
				return nil, err
			}
			r.fail(pl.Name, "current_user", err)
		} else {
			me = &u
		}
	}
	dims := users
	if me != nil {
		dims = append(slices.Clone(users), *me)
	}

	if err := r.upsert(ctx, schemas.Projects, func(b *transform.Builder) {
		for i := range projects {
			transform.AppendProject(b, &projects[i])
		}
	}); err != nil {
		return nil, err
	}
	if err := r.upsert(ctx, schemas.Users, func(b *transform.Builder) {
		for i := range dims {
			transform.AppendUser(b, &dims[i])
		}
	}); err != nil {
		return nil, err
	}

	var units []unit
	if pl.HasStream(config.StreamEvents) {
		for _, p := range projects {
			units = append(units, r.eventsUnit(pl, extract.EventSource{Kind: "project", ID: p.ID}))
		}
		for _, u := range users {
			units = append(units, r.eventsUnit(pl, extract.EventSource{Kind: "user", ID: u.ID}))
		}
		if me != nil {
			units = append(units, r.eventsUnit(pl, extract.EventSource{Kind: "current_user"}))
		}
	}
	for _, p := range projects {
		if fams := issueFamilies(pl); len(fams) > 0 {
			units = append(units, r.issuesUnit(pl, p.ID, fams))
		}
		if fams := mergeRequestFamilies(pl); len(fams) > 0 {
			units = append(units, r.mergeRequestsUnit(pl, p.ID, fams))
		}
	}
	if fams := epicFamilies(pl); len(fams) > 0 {
		for _, g := range epicGroups(groups) {
			units = append(units, r.epicsUnit(pl, g.ID, fams))
		}
	}
	r.Log.Info("planned", "pipeline", pl.Name, "projects", len(projects), "groups", len(groups),
		"users", len(users), "units", len(units))
	return units, nil
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

func scopeName(kind string, id int64) string { return kind + ":" + strconv.FormatInt(id, 10) }

// optional reports whether a 403/404 on this stream means "not licensed
// here" (skip with a warning) rather than a failure of the scope.
func optional(err error) bool {
	return errors.Is(err, extract.ErrForbidden) || errors.Is(err, extract.ErrNotFound)
}
