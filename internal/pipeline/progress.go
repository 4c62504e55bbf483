package pipeline

import (
	"sort"
	"sync"
	"sync/atomic"
)

// Progress counts a run's work per stream as it happens, for progress bars
// and periodic log lines. A nil *Progress counts nothing. Safe for
// concurrent use.
type Progress struct {
	mu      sync.Mutex
	streams map[string]*StreamProgress
}

// StreamProgress is one stream's counters.
type StreamProgress struct {
	Name    string
	Pages   atomic.Int64 // listing or event pages read
	Listed  atomic.Int64 // rows seen on those pages
	Queued  atomic.Int64 // parents queued for this resource-event family
	Parents atomic.Int64 // parents whose events of this family were fetched
	Rows    atomic.Int64 // rows added to the warehouse
}

// NewProgress returns empty counters.
func NewProgress() *Progress { return &Progress{streams: map[string]*StreamProgress{}} }

func (p *Progress) stream(name string) *StreamProgress {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.streams[name]
	if !ok {
		s = &StreamProgress{Name: name}
		p.streams[name] = s
	}
	return s
}

// Streams returns the streams seen so far, by name.
func (p *Progress) Streams() []*StreamProgress {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*StreamProgress, 0, len(p.streams))
	for _, s := range p.streams {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (p *Progress) rows(table string, n int64) {
	if s := p.stream(table); s != nil {
		s.Rows.Add(n)
	}
}

func (s *StreamProgress) page(rows int) {
	if s != nil {
		s.Pages.Add(1)
		s.Listed.Add(int64(rows))
	}
}

func (s *StreamProgress) queue() {
	if s != nil {
		s.Queued.Add(1)
	}
}

func (s *StreamProgress) parent() {
	if s != nil {
		s.Parents.Add(1)
	}
}
