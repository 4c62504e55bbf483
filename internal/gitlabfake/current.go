package gitlabfake

import (
	"slices"
	"strings"
)

// ParentRef names an issue, merge request or epic: Type is "Issue",
// "MergeRequest" or "Epic", ID its global id.
type ParentRef struct {
	Type string
	ID   int64
}

// Current is what a parent's resource events leave it with, as its
// listing shows it now. Every resource event counts, hidden ones too:
// hiding a row from the token does not undo the change it recorded.
type Current struct {
	// Labels are the names of the labels on it, sorted (GitLab's
	// label_names); empty, never nil. A label event whose label was
	// deleted since changes nothing.
	Labels []string
	// MilestoneID is set by the last milestone event if it added a
	// milestone that still exists; 0 for none.
	MilestoneID int64
	// Weight is the last weight event's weight; nil for none.
	Weight *int64
}

// Current returns the current state of every parent with resource events.
// A parent missing from the map has no labels, milestone or weight.
func (d *Data) Current() map[ParentRef]Current {
	byKey := d.current()
	out := make(map[ParentRef]Current, len(byKey))
	for k, c := range byKey {
		out[ParentRef{Type: k.typ.String(), ID: k.id}] = c
	}
	return out
}

func (t ptype) String() string {
	switch t {
	case ptIssue:
		return "Issue"
	case ptMR:
		return "MergeRequest"
	case ptEpic:
		return "Epic"
	}
	return ""
}

// current replays the resource events, in id (= time) order.
func (d *Data) current() map[pkey]Current {
	labelIDs := map[pkey][]int64{}
	for i := range d.LabelEvents {
		e := &d.LabelEvents[i]
		k := pkey{typOf(e.ParentType), e.ParentID}
		labelIDs[k] = applyLabel(labelIDs[k], e)
	}
	names := map[int64]string{}
	for _, l := range d.Labels {
		names[l.ID] = l.Name
	}
	milestones := map[int64]bool{}
	for _, m := range d.Milestones {
		milestones[m.ID] = true
	}
	out := map[pkey]Current{}
	for k, ids := range labelIDs {
		c := out[k]
		c.Labels = []string{}
		for _, id := range ids {
			if n, ok := names[id]; ok {
				c.Labels = append(c.Labels, n)
			}
		}
		slices.SortFunc(c.Labels, strings.Compare)
		out[k] = c
	}
	for i := range d.MilestoneEvents {
		e := &d.MilestoneEvents[i]
		k := pkey{typOf(e.ParentType), e.ParentID}
		c := out[k]
		c.MilestoneID = 0
		if e.Action == "add" && milestones[e.MilestoneID] {
			c.MilestoneID = e.MilestoneID
		}
		out[k] = c
	}
	for i := range d.WeightEvents {
		e := &d.WeightEvents[i]
		k := pkey{typOf(e.ParentType), e.ParentID}
		c := out[k]
		c.Weight = e.Weight
		out[k] = c
	}
	for k, c := range out {
		if c.Labels == nil {
			c.Labels = []string{}
			out[k] = c
		}
	}
	return out
}

// applyLabel returns the label ids on a parent after label event e: an add
// of a label not on it appends it, a remove of one on it drops it, an
// event whose label was deleted since (id 0) changes nothing.
func applyLabel(ids []int64, e *ResourceEvent) []int64 {
	if e.LabelID == 0 {
		return ids
	}
	at := slices.Index(ids, e.LabelID)
	switch {
	case e.Action == "add" && at < 0:
		return append(ids, e.LabelID)
	case e.Action == "remove" && at >= 0:
		return slices.Delete(ids, at, at+1)
	}
	return ids
}
