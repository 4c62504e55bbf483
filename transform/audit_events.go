package transform

import "github.com/labtrail/labtrail/extract"

// AppendAuditEvent appends one row of schemas.AuditEvents. A nil e appends
// nothing.
//
// scope_type and scope_id follow from the entity, not from the endpoint
// the row was read from: a project's or group's audit events are exactly
// those whose entity it is, and the instance lists them all, so the row
// read through the instance is the same row with the same scope. The
// columns after created_at come from details, which is stored whole.
// Audit events name their author only by id and name, so no user row is
// collected.
func AppendAuditEvent(b *Builder, e *extract.AuditEvent) {
	if e == nil {
		return
	}
	b.setInt64Val("id", e.ID)
	scope, scopeID := "Instance", (*int64)(nil)
	if t := e.EntityType; t != nil && (*t == "Project" || *t == "Group") {
		scope, scopeID = *t, e.EntityID
	}
	b.setStringVal("scope_type", scope)
	b.setInt64("scope_id", scopeID)
	b.setString("entity_type", e.EntityType)
	b.setInt64("entity_id", e.EntityID)
	d := &e.Details
	b.setString("entity_path", d.EntityPath)
	b.setInt64("author_id", e.AuthorID)
	b.setString("author_name", d.AuthorName)
	b.setString("event_name", e.EventName)
	b.setTime("created_at", e.CreatedAt)
	b.setString("target_type", d.TargetType)
	b.setInt64("target_id", d.TargetID)
	b.setString("target_details", d.TargetDetails)
	b.setString("custom_message", d.CustomMessage)
	b.setString("ip_address", d.IPAddress)
	if d.Raw != nil {
		b.setStringVal("details", string(d.Raw))
	}
	b.endRow()
}
