package gitlabfake

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// auditGen makes audit events. It draws from its own random stream, so
// that audit events leave the rest of the instance as it was.
type auditGen struct {
	r     *rand.Rand
	d     *Data
	sc    Scale
	users []int64 // authors: root and the regular users
}

func newAuditGen(r *rand.Rand, d *Data, sc Scale) *auditGen {
	a := &auditGen{r: r, d: d, sc: sc}
	for _, u := range d.Users {
		if u.ID != GhostID {
			a.users = append(a.users, u.ID)
		}
	}
	return a
}

// auditKind is one kind of audit event a scope records.
type auditKind struct {
	name, targetType, message string
	extra                     func(r *rand.Rand) map[string]string
}

var accessLevels = []string{"Guest", "Reporter", "Developer", "Maintainer", "Owner"}

func changed(what string, values []string) func(r *rand.Rand) map[string]string {
	return func(r *rand.Rand) map[string]string {
		i := r.IntN(len(values) - 1)
		return map[string]string{"change": what, "from": values[i], "to": values[i+1]}
	}
}

func added(what string) func(r *rand.Rand) map[string]string {
	return func(r *rand.Rand) map[string]string {
		return map[string]string{"add": what, "as": accessLevels[r.IntN(len(accessLevels))]}
	}
}

var (
	projectAuditKinds = []auditKind{
		{"member_created", "User", "", added("user_access")},
		{"member_updated", "User", "", changed("access_level", accessLevels)},
		{"protected_branch_created", "ProtectedBranch", "Added protected branch with [allowed to push: Maintainers]", nil},
		{"project_visibility_level_updated", "Project", "Changed visibility from Private to Internal", changed("visibility", []string{"private", "internal", "public"})},
		{"ci_variable_created", "Ci::Variable", "Added ci variable", nil},
		{"deploy_token_created", "DeployToken", "Created project deploy token", nil},
	}
	groupAuditKinds = []auditKind{
		{"member_created", "User", "", added("user_access")},
		{"group_saml_provider_updated", "Group", "Changed SAML provider", nil},
		{"group_visibility_level_updated", "Group", "", changed("visibility", []string{"private", "internal"})},
	}
	userAuditKinds = []auditKind{
		{"user_created", "User", "", nil},
		{"user_access_locked", "User", "User access locked", nil},
		{"user_blocked", "User", "", changed("state", []string{"active", "blocked"})},
	}
	settingsAuditKind = auditKind{"application_setting_updated", "ApplicationSetting", "",
		changed("password_authentication_enabled_for_web", []string{"true", "false"})}
)

// between is an instant in [lo, hi) to the microsecond.
func (a *auditGen) between(lo, hi time.Time) time.Time {
	span := hi.Sub(lo).Microseconds()
	if span <= 0 {
		return lo
	}
	return lo.Add(time.Duration(a.r.Int64N(span)) * time.Microsecond)
}

// event makes one audit event of kind k on an entity at t.
func (a *auditGen) event(k auditKind, entityType string, entityID int64, path string, t time.Time) AuditEvent {
	e := AuditEvent{AuthorID: a.users[a.r.IntN(len(a.users))], EntityType: entityType, EntityID: entityID,
		EntityPath: path, EventName: k.name, CreatedAt: t, TargetType: k.targetType, CustomMessage: k.message}
	switch k.targetType {
	case "User":
		e.TargetID = a.users[a.r.IntN(len(a.users))]
		e.TargetDetails = a.d.Users[slices.IndexFunc(a.d.Users, func(u User) bool { return u.ID == e.TargetID })].Username
	case entityType:
		e.TargetID, e.TargetDetails = entityID, path
	default:
		e.TargetID = 1 + a.r.Int64N(500)
		e.TargetDetails = k.targetType + " " + strconv.FormatInt(e.TargetID, 10)
	}
	if a.r.IntN(10) > 0 {
		e.IPAddress = "192.0.2." + strconv.Itoa(1+a.r.IntN(254))
	}
	if k.extra != nil {
		e.Extra = k.extra(a.r)
	}
	return e
}

// scopeEvents makes n events of the entity's kinds, spread over [lo, hi).
func (a *auditGen) scopeEvents(n int, entityType string, entityID int64, path string, lo, hi time.Time) []AuditEvent {
	kinds := projectAuditKinds
	switch entityType {
	case "Group":
		kinds = groupAuditKinds
	case "User":
		kinds = userAuditKinds
	}
	out := make([]AuditEvent, 0, n)
	for range n {
		out = append(out, a.event(kinds[a.r.IntN(len(kinds))], entityType, entityID, path, a.between(lo, hi)))
	}
	return out
}

// instanceEvents makes n events only the instance lists: about users and
// the instance's settings.
func (a *auditGen) instanceEvents(n int, lo, hi time.Time) []AuditEvent {
	var out []AuditEvent
	for range n {
		if a.r.IntN(4) == 0 {
			out = append(out, a.event(settingsAuditKind, "Gitlab::Audit::InstanceScope", 1, "gitlab_instance", a.between(lo, hi)))
			continue
		}
		u := a.d.Users[a.r.IntN(len(a.d.Users))]
		out = append(out, a.scopeEvents(1, "User", u.ID, u.Username, lo, hi)...)
	}
	return out
}

// auditBudget is how many audit events project p gets over the history:
// the big project enough that a 30-day window takes several keyset pages.
func (sc Scale) auditBudget(p Project) int {
	if p.Big {
		return 15 * sc.AuditEventsPerProject
	}
	return sc.AuditEventsPerProject
}

// genInitialAudit fills the instance's audit events: each group's and
// project's creation (long before the history, so a backfill meets them
// in its first windows; older ones render target_id as a path), then over
// the history each project's and group's own, the instance's (users and
// settings), and edge rows: acme/api events at 23:59:59.9995 and at
// midnight on 31 days running, so that whatever 30-day windows a client
// walks, one of them ends half a millisecond after a row and one begins
// exactly on one. The newest is an acme/api event (see addAudit). They
// are numbered in time order.
func (a *auditGen) genInitialAudit(first, now time.Time) {
	d := a.d
	var evs []AuditEvent
	for _, g := range d.Groups {
		e := a.event(auditKind{name: "group_created", targetType: "Group", message: "Added group"}, "Group", g.ID, g.FullPath, g.CreatedAt)
		e.TargetPath = true
		evs = append(evs, e)
		evs = append(evs, a.scopeEvents(a.sc.AuditEventsPerProject/2, "Group", g.ID, g.FullPath, first, now)...)
	}
	for _, p := range d.Projects {
		e := a.event(auditKind{name: "project_created", targetType: "Project", message: "Added project"}, "Project", p.ID, p.PathWithNamespace, p.CreatedAt)
		e.TargetPath = true
		evs = append(evs, e)
		evs = append(evs, a.scopeEvents(a.sc.auditBudget(p), "Project", p.ID, p.PathWithNamespace, first, now)...)
	}
	evs = append(evs, a.instanceEvents(a.sc.AuditEventsPerProject, first, now)...)
	k := projectAuditKinds[2]
	for i := range 31 {
		day := date(first).AddDate(0, 0, 10+i)
		evs = append(evs,
			a.event(k, "Project", APIProjectID, "acme/api", day.Add(-500*time.Microsecond)),
			a.event(k, "Project", APIProjectID, "acme/api", day))
	}
	a.commit(append(evs, a.closing(now)))
}

// closing is the newest audit event of a batch: an acme/api event just
// before now, so that the newest row of the instance and of acme/api is
// the same.
func (a *auditGen) closing(now time.Time) AuditEvent {
	return a.event(projectAuditKinds[1], "Project", APIProjectID, "acme/api", now.Add(-time.Millisecond))
}

// addAudit adds the audit events of AddActivity, between lo and hi: a few
// in every project and group and on the instance, and one in acme/api at
// the very instant of the newest event so far (an acme/api one, see
// closing): a row that arrives after a client read that instant, which
// one resuming just after its watermark would miss, on acme/api and on
// the instance alike.
func (a *auditGen) addAudit(lo, hi time.Time) int {
	d := a.d
	var evs []AuditEvent
	if n := len(d.AuditEvents); n > 0 {
		evs = append(evs, a.event(projectAuditKinds[0], "Project", APIProjectID, "acme/api", d.AuditEvents[n-1].CreatedAt))
	}
	for _, g := range d.Groups {
		evs = append(evs, a.scopeEvents(1+a.r.IntN(3), "Group", g.ID, g.FullPath, lo, hi)...)
	}
	for _, p := range d.Projects {
		evs = append(evs, a.scopeEvents(2+a.r.IntN(4), "Project", p.ID, p.PathWithNamespace, lo, hi)...)
	}
	evs = append(evs, a.instanceEvents(3, lo, hi)...)
	evs = append(evs, a.closing(hi))
	a.commit(evs)
	return len(evs)
}

// commit numbers new events in time order after the existing ones and
// appends them.
func (a *auditGen) commit(evs []AuditEvent) {
	d := a.d
	slices.SortStableFunc(evs, func(x, y AuditEvent) int { return x.CreatedAt.Compare(y.CreatedAt) })
	next := int64(1)
	if n := len(d.AuditEvents); n > 0 {
		next = d.AuditEvents[n-1].ID + 1
	}
	for i := range evs {
		evs[i].ID = next + int64(i)
	}
	d.AuditEvents = append(d.AuditEvents, evs...)
}
