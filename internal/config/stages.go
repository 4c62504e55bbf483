package config

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/labtrail/labtrail/schemas"
)

// defaultRepeats: one row per occurrence keeps every occurrence visible;
// summing is a choice about what a stage means, so it is asked for.
const defaultRepeats = schemas.RepeatsSeparate

// Stages lists the value-stream stages of every pipeline, each name once,
// in the order they first appear. The stage_durations view is
// warehouse-wide (the warehouse does not record which pipeline read an
// item), which is why validation requires a name defined by two
// pipelines to have one definition.
func (c *Config) Stages() []schemas.Stage {
	var out []schemas.Stage
	for _, p := range c.Pipelines {
		for _, s := range p.Stages {
			if !slices.ContainsFunc(out, func(o schemas.Stage) bool { return o.Name == s.Name }) {
				out = append(out, s)
			}
		}
	}
	return out
}

// stages decodes a pipeline's `stages:` list. Every item is kept, valid
// or not, so that index i of the result is stages[i] in the file and
// validateStages can name paths.
func (d *decoder) stages(path string, n *yaml.Node) []schemas.Stage {
	if n.Kind != yaml.SequenceNode {
		d.errf(path, "must be a list of stages")
		return nil
	}
	out := make([]schemas.Stage, len(n.Content))
	for i, item := range n.Content {
		s := &out[i]
		d.mapping(fmt.Sprintf("%s[%d]", path, i), item, []string{"name", "start", "end", "repeats"}, func(k string, v *yaml.Node, p string) {
			switch k {
			case "name":
				s.Name = d.str(p, v)
			case "start":
				s.Start = d.eventRef(p, v)
			case "end":
				s.End = d.eventRef(p, v)
			case "repeats":
				switch r := schemas.Repeats(d.scalar(p, v)); r {
				case schemas.RepeatsSeparate, schemas.RepeatsSum:
					s.Repeats = r
				default:
					d.errf(p, "must be separate or sum, got %q", v.Value)
				}
			}
		})
	}
	return out
}

// eventRef decodes a start or end: a kind of schemas.EventKinds, with its
// argument if it takes one. A bad one is reported and left empty.
func (d *decoder) eventRef(path string, n *yaml.Node) schemas.EventRef {
	// A bad one is marked given but unusable, so that validateStages does
	// not also call it missing.
	unusable := schemas.EventRef{Kind: "?"}
	s := d.str(path, n)
	if n.Kind != yaml.ScalarNode {
		return unusable
	}
	r := schemas.ParseEventRef(s)
	k, ok := schemas.EventKindByName(r.Kind)
	switch {
	case !ok:
		d.errf(path, "unknown event kind %q (known: %s)", r.Kind, strings.Join(schemas.EventKindUsages(), ", "))
	case k.Arg != "" && r.Arg == "":
		d.errf(path, "event kind %s needs an argument: %s", k.Name, k.Usage())
	case k.Arg == "" && strings.Contains(s, ":"):
		d.errf(path, "event kind %s takes no argument, got %q", k.Name, s)
	default:
		return r
	}
	return unusable
}

// validateStages checks what needs more than one value: each stage has a
// name, a start and an end that can apply to one resource type, names are
// unique within a pipeline, and a name shared by pipelines has one
// definition.
func (d *decoder) validateStages(c *Config) {
	type def struct {
		path  string
		stage schemas.Stage
	}
	byName := map[string]def{}
	for i, p := range c.Pipelines {
		inPipeline := map[string]string{}
		for j, s := range p.Stages {
			path := fmt.Sprintf("pipelines[%d].stages[%d]", i, j)
			if s.Name == "" {
				d.errf(path+".name", "required")
			}
			if s.Start.Kind == "" {
				d.errf(path+".start", "required: an event kind (%s, ...)", schemas.EventKinds()[0].Name)
			}
			if s.End.Kind == "" {
				d.errf(path+".end", "required: an event kind (%s, ...)", schemas.EventKinds()[0].Name)
			}
			_, startOK := schemas.EventKindByName(s.Start.Kind)
			_, endOK := schemas.EventKindByName(s.End.Kind)
			if startOK && endOK && len(s.Resources()) == 0 {
				d.errf(path, "start %s (%s) and end %s (%s) never apply to the same resource type",
					s.Start, kindResources(s.Start), s.End, kindResources(s.End))
			}
			if s.Name == "" {
				continue
			}
			if other, dup := inPipeline[s.Name]; dup {
				d.errf(path+".name", "stage %q is also defined at %s", s.Name, other)
				continue
			}
			inPipeline[s.Name] = path
			if first, seen := byName[s.Name]; !seen {
				byName[s.Name] = def{path, s}
			} else if first.stage != s {
				d.errf(path, "stage %q differs from its definition at %s; stages are warehouse-wide, so a name has one definition", s.Name, first.path)
			}
		}
	}
}

func kindResources(r schemas.EventRef) string {
	k, _ := schemas.EventKindByName(r.Kind)
	var out []string
	for _, p := range k.Resources {
		out = append(out, string(p))
	}
	return strings.Join(out, ", ")
}
