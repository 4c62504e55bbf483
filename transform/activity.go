package transform

import "github.com/labtrail/labtrail/extract"

// ActivityRow is one system note ready for the activity table: the note,
// what its body says (ParseSystemNote) and the ids of the users it names
// (IDs[i] for Note.Usernames[i]; nil where no user has that name).
type ActivityRow struct {
	Note   *extract.ParentNote
	Parsed SystemNote
	IDs    []*int64
}

// AppendActivity appends the row of schemas.Activity for a system note of
// parent p and collects its author into refs. A comment (system false)
// appends nothing: comments are the events table's. An internal note of a
// run that redacts them keeps its action and ids, but body, old_value,
// new_value and related_ref (all text taken from the body) are null.
func AppendActivity(b *Builder, refs *Referenced, p extract.Parent, a ActivityRow) {
	n := a.Note
	if n == nil || !n.IsSystem() {
		return
	}
	var ntype string
	if n.NoteableType != nil {
		ntype = *n.NoteableType
	}
	var nid int64
	if n.NoteableID != nil {
		nid = *n.NoteableID
	}
	setResource(b, p, n.ID, ntype, nid)
	b.setTime("created_at", n.CreatedAt)
	if u := n.Author; u != nil {
		b.setInt64Val("user_id", u.ID)
		b.setStringVal("user_username", u.Username)
	}
	sn := &a.Parsed
	b.setStringVal("action", sn.Action)
	b.setString("body", b.noteBody(&n.Note))
	if sn.Usernames != nil {
		ids := make([]*int64, len(sn.Usernames)) // a short IDs leaves the rest unknown
		copy(ids, a.IDs)
		b.setInt64PtrList("target_user_ids", ids)
		b.setStringList("target_usernames", sn.Usernames)
		b.setInt64PtrList("added_user_ids", ids[:len(sn.Added)])
		b.setInt64PtrList("removed_user_ids", ids[len(sn.Added):])
	}
	if !b.redacts(n.IsInternal()) {
		b.setString("old_value", sn.Old)
		b.setString("new_value", sn.New)
		b.setStringNZ("related_ref", sn.RelatedRef)
	}
	b.setStringNZ("related_type", sn.RelatedType)
	b.setBool("internal", n.IsInternal())
	b.setInt64NZ("work_item_id", p.WorkItemID)
	b.endRow()

	refs.AddUser(n.Author)
}

// redacts reports whether a note with this internal flag loses its text
// here (see noteBody): internal, and the run does not keep internal notes.
func (b *Builder) redacts(internal *bool) bool {
	return internal != nil && *internal && !b.keepInternal
}
