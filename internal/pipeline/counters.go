package pipeline

import (
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/labtrail/labtrail/schemas"
)

// streamOrder ranks a counter's name: parent listings first, then the
// streams, as declared in schemas; anything else last.
func streamOrder(name string) int {
	var names []string
	for _, k := range schemas.ParentKinds() {
		names = append(names, k.Table().Name)
	}
	names = append(names, schemas.StreamNames()...)
	if i := slices.Index(names, name); i >= 0 {
		return i
	}
	return len(names)
}

// Counters count a run's work per stream as it happens, for progress bars
// and periodic log lines (package progress draws them). A nil *Counters
// counts nothing. Safe for concurrent use.
type Counters struct {
	mu      sync.Mutex
	streams map[string]*StreamCounters
}

// StreamCounters are one stream's counters: a stream of schemas.Streams,
// or a parent listing named by its table.
type StreamCounters struct {
	Name    string
	Pages   atomic.Int64 // listing or event pages read
	Listed  atomic.Int64 // rows seen on those pages
	Queued  atomic.Int64 // parents queued for this resource-event family
	Parents atomic.Int64 // parents whose events of this family were fetched
	Rows    atomic.Int64 // rows added to the warehouse
	// Lookups are requests beyond the stream's pages: the username
	// lookups of activity (GET /users?username=).
	Lookups atomic.Int64
}

// NewCounters returns empty counters.
func NewCounters() *Counters { return &Counters{streams: map[string]*StreamCounters{}} }

func (p *Counters) stream(name string) *StreamCounters {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.streams[name]
	if !ok {
		s = &StreamCounters{Name: name}
		p.streams[name] = s
	}
	return s
}

// Streams returns the streams seen so far: parent listings in
// schemas.ParentKinds order, then streams in schemas.Streams order.
func (p *Counters) Streams() []*StreamCounters {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*StreamCounters, 0, len(p.streams))
	for _, s := range p.streams {
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if a, b := streamOrder(out[i].Name), streamOrder(out[j].Name); a != b {
			return a < b
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func (p *Counters) rows(table string, n int64) {
	if s := p.stream(table); s != nil {
		s.Rows.Add(n)
	}
}

func (s *StreamCounters) page(rows int) {
	if s != nil {
		s.Pages.Add(1)
		s.Listed.Add(int64(rows))
	}
}

func (s *StreamCounters) queue() {
	if s != nil {
		s.Queued.Add(1)
	}
}

func (s *StreamCounters) parent() {
	if s != nil {
		s.Parents.Add(1)
	}
}
