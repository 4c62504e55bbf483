package transform

import "github.com/labtrail/labtrail/extract"

// Internal notes are readable on GitLab only by project members with
// Reporter access; a warehouse, and above all its Parquet files, is read
// by a wider audience. So whatever a run stores of a note goes through
// here: every column that could carry a note's text is set by setNote,
// and a future table holding note text must call noteBody too.

// noteBody returns what may be stored of n's body: the body, or nil when
// n is internal and the run redacts internal notes (the row itself is
// kept, with note_internal telling why its body is null). A note GitLab
// marks neither internal nor confidential keeps its body.
func (b *Builder) noteBody(n *extract.Note) *string {
	if b.redacts(n.IsInternal()) {
		return nil
	}
	return n.Body
}

// setNote fills the note_* columns of an events row from n.
func setNote(b *Builder, n *extract.Note) {
	b.setInt64Val("note_id", n.ID)
	b.setString("note_body", b.noteBody(n))
	b.setBool("note_system", n.System)
	b.setString("note_noteable_type", n.NoteableType)
	b.setInt64("note_noteable_id", n.NoteableID)
	b.setInt64("note_noteable_iid", n.NoteableIID)
	b.setBool("note_internal", n.IsInternal())
	b.setString("note_type", n.Type)
	if p := n.Position; p != nil {
		b.setString("note_position_path", firstSet(p.NewPath, p.OldPath))
		b.setInt64("note_position_line", firstSet(p.NewLine, p.OldLine))
	}
	b.setString("note_commit_id", n.CommitID)
	b.setBool("note_resolvable", n.Resolvable)
	b.setBool("note_resolved", n.Resolved)
}

// firstSet returns a unless it is nil, else b.
func firstSet[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}
