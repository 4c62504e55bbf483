package gitlabfake

import "time"

// addNotes adds the notes of AddActivity: those of the reassignments
// (reassigned), the new issues' and merge requests' own, and on about 2%
// of the existing issues a due-date or work-item status change, which
// GitLab records only as a system note and which bumps updated_at.
func (a *activity) addNotes(reassigned []ParentNote) {
	d, g := a.d, a.g
	notes := g.parentNotes([3]int{a.firstNewIssue, a.firstNewMR, len(d.Epics)})
	notes = append(notes, reassigned...)
	span := a.newNow.Add(-time.Minute).Sub(a.oldNow.Add(time.Second)).Milliseconds()
	for i := range a.firstNewIssue {
		is := &d.Issues[i]
		t := g.traits(purposeNoteActivity, is.ID)
		if !t.pct(2) {
			continue
		}
		at := a.oldNow.Add(time.Second + time.Duration(t.x%uint64(max(span, 1)))*time.Millisecond).Truncate(time.Millisecond)
		pn := ParentNote{ParentType: "Issue", ParentID: is.ID, ParentIID: is.IID, ProjectID: is.ProjectID,
			AuthorID: is.AuthorID, System: true, CreatedAt: at}
		if t.pct(50) {
			due := date(at).AddDate(0, 0, 7+t.intN(30))
			is.DueDate = &due
			pn.Action, pn.New = "due_date", due.Format(time.DateOnly)
			pn.Body = "changed due date to " + due.Format("January 2, 2006")
		} else {
			pn.Action, pn.New = "work_item_status", workItemStatuses[t.intN(len(workItemStatuses))]
			pn.Body = "set status to **" + pn.New + "**"
		}
		notes = append(notes, pn)
		is.UpdatedAt = later(is.UpdatedAt, at)
	}
	d.commitNotes(notes)
	a.sum.Notes = len(notes)
}
