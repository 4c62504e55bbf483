package transform

import "github.com/labtrail/labtrail/extract"

// AppendEvent appends one row of schemas.Events and collects the author into
// refs. A nil e appends nothing.
//
// author_id and author_username come from the event's own author_id and
// author_username when GitLab sent them, else from the author object;
// author_name only from the author object. A missing author, push_data, note
// or wiki_page leaves its columns null. An internal note's body is stored
// only if b's Meta keeps internal notes (see noteBody).
func AppendEvent(b *Builder, refs *Referenced, e *extract.Event) {
	if e == nil {
		return
	}
	b.setInt64Val("id", e.ID)
	b.setInt64("project_id", e.ProjectID)
	b.setStringVal("action_name", e.ActionName)
	b.setString("target_type", e.TargetType)
	b.setInt64("target_id", e.TargetID)
	b.setInt64("target_iid", e.TargetIID)
	b.setString("target_title", e.TargetTitle)

	authorID, authorUsername, authorName := e.AuthorID, e.AuthorUsername, (*string)(nil)
	if a := e.Author; a != nil {
		if authorID == nil {
			authorID = &a.ID
		}
		if authorUsername == nil {
			authorUsername = &a.Username
		}
		authorName = &a.Name
	}
	b.setInt64("author_id", authorID)
	b.setString("author_username", authorUsername)
	b.setString("author_name", authorName)
	b.setTime("created_at", e.CreatedAt)

	if p := e.PushData; p != nil {
		b.setInt64("push_commit_count", p.CommitCount)
		b.setString("push_action", p.Action)
		b.setString("push_ref_type", p.RefType)
		b.setString("push_commit_from", p.CommitFrom)
		b.setString("push_commit_to", p.CommitTo)
		b.setString("push_ref", p.Ref)
		b.setString("push_commit_title", p.CommitTitle)
		b.setInt64("push_ref_count", p.RefCount)
	}
	if n := e.Note; n != nil {
		setNote(b, n)
	}
	if w := e.WikiPage; w != nil {
		b.setString("wiki_page_title", w.Title)
		b.setString("wiki_page_slug", w.Slug)
	}
	b.setBool("imported", e.Imported)
	b.setString("imported_from", e.ImportedFrom)
	b.endRow()

	refs.AddUser(e.Author)
}
