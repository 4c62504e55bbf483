package extract

import (
	"context"
	"fmt"
	"strconv"
)

// Resource event families, as they appear in endpoint names.
const (
	FamilyLabel     = "label"
	FamilyState     = "state"
	FamilyMilestone = "milestone"
	FamilyIteration = "iteration" // issues only, Premium
	FamilyWeight    = "weight"    // issues only, Premium
)

// ResourceEvents pages one family of resource events of parent p (T is the
// family's entity type: LabelEvent, StateEvent, ...). Issues and merge
// requests are addressed by project and IID, epics by group and their
// global id, as GitLab's routes require.
//
// It is a function rather than a method only because Go methods cannot
// take type parameters.
func ResourceEvents[T any, P Row[T]](ctx context.Context, c *Client, p Parent, family string, fn func([]T) error) error {
	var base string
	switch p.Type {
	case "Issue":
		base = "projects/" + strconv.FormatInt(p.ProjectID, 10) + "/issues/" + strconv.FormatInt(p.IID, 10)
	case "MergeRequest":
		base = "projects/" + strconv.FormatInt(p.ProjectID, 10) + "/merge_requests/" + strconv.FormatInt(p.IID, 10)
	case "Epic":
		base = "groups/" + strconv.FormatInt(p.GroupID, 10) + "/epics/" + strconv.FormatInt(p.ID, 10)
	default:
		return fmt.Errorf("resource events: unknown parent type %q", p.Type)
	}
	return each[T, P](ctx, c, base+"/resource_"+family+"_events", nil, fn)
}
