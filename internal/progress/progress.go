// Package progress shows a run's progress: live bars on a terminal, one
// plain log line every few seconds otherwise (cron mails and CI logs must
// not fill with carriage returns).
package progress

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/pipeline"
)

// Mode chooses how progress is shown.
type Mode int

const (
	Off   Mode = iota // --quiet or --no-progress
	Bars              // a terminal
	Lines             // anything else
)

// Detect picks Bars when w is a terminal, Lines otherwise.
func Detect(w io.Writer) Mode {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return Bars
	}
	return Lines
}

// LineInterval is how often Lines mode logs by default.
const LineInterval = 5 * time.Second

// Options say how to show progress.
type Options struct {
	Mode  Mode
	Every time.Duration // Lines mode: time between lines; 0 = LineInterval
	Log   *slog.Logger  // Lines mode writes here
	Sink  *LogSink      // Bars mode routes these logs above the bars; may be nil
}

// LogSink is where logs go while progress may be shown: straight to its
// writer, or above the bars while they are on screen (a log line written
// under a bar would be erased by the next redraw). Safe for concurrent use.
type LogSink struct {
	mu   sync.Mutex
	w    io.Writer
	bars *mpb.Progress
}

// NewLogSink returns a sink writing to w.
func NewLogSink(w io.Writer) *LogSink { return &LogSink{w: w} }

func (s *LogSink) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bars != nil {
		return s.bars.Write(b)
	}
	return s.w.Write(b)
}

func (s *LogSink) route(bars *mpb.Progress) {
	s.mu.Lock()
	s.bars = bars
	s.mu.Unlock()
}

// Start shows p's counters and c's request statistics on w until the
// returned stop function is called; logs written to sink meanwhile appear
// above the bars. stop waits for the display to finish.
func Start(w io.Writer, o Options, p *pipeline.Counters, c *extract.Client) (stop func()) {
	if o.Mode == Off {
		return func() {}
	}
	if o.Every <= 0 {
		o.Every = LineInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if o.Mode == Bars {
			bars(ctx, w, p, c, o.Sink)
		} else {
			lines(ctx, p, c, o.Log, o.Every)
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// snapshot is the request side of progress.
type snapshot struct {
	requests, retries, throttled int64
	waited                       time.Duration
}

func take(c *extract.Client) snapshot {
	return snapshot{c.Stats.Requests.Load(), c.Stats.Retries.Load(), c.Stats.Throttled.Load(), c.Throttle().Paused()}
}

func lines(ctx context.Context, p *pipeline.Counters, c *extract.Client, log *slog.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	start, prev, prevAt := time.Now(), take(c), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s := take(c)
			attrs := []any{
				"elapsed", now.Sub(start).Round(time.Second).String(),
				"requests", s.requests,
				"req_per_s", fmt.Sprintf("%.1f", float64(s.requests-prev.requests)/now.Sub(prevAt).Seconds()),
				"retries", s.retries, "throttled", s.throttled,
				"rate_limit_paused", s.waited.Round(time.Second).String(),
			}
			for _, st := range p.Streams() {
				attrs = append(attrs, st.Name, fmt.Sprintf("pages=%d listed=%d parents=%d/%d rows=%d",
					st.Pages.Load(), st.Listed.Load(), st.Parents.Load(), st.Queued.Load(), st.Rows.Load()))
			}
			log.Info("progress", attrs...)
			prev, prevAt = s, now
		}
	}
}

func bars(ctx context.Context, w io.Writer, p *pipeline.Counters, c *extract.Client, sink *LogSink) {
	pr := mpb.New(mpb.WithOutput(w), mpb.WithWidth(32), mpb.WithRefreshRate(150*time.Millisecond))
	if sink != nil {
		sink.route(pr)
		defer sink.route(nil)
	}
	start := time.Now()
	var prevReq int64
	prevAt := start
	rate := 0.0
	head := pr.New(0, mpb.SpinnerStyle(), mpb.PrependDecorators(decor.Any(func(decor.Statistics) string {
		s := take(c)
		if dt := time.Since(prevAt).Seconds(); dt >= 1 {
			rate, prevReq, prevAt = float64(s.requests-prevReq)/dt, s.requests, time.Now()
		}
		return fmt.Sprintf("requests %d (%.0f/s)  retries %d  429s %d  paused by rate limits %s  ",
			s.requests, rate, s.retries, s.throttled, s.waited.Round(100*time.Millisecond))
	})))
	shown := map[string]*mpb.Bar{}
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			head.Abort(false)
			for _, b := range shown {
				b.Abort(false)
			}
			pr.Wait()
			return
		case <-t.C:
			for _, st := range p.Streams() {
				b, ok := shown[st.Name]
				if !ok {
					st := st
					b = pr.AddBar(0,
						mpb.PrependDecorators(decor.Name(fmt.Sprintf("%-17s", st.Name))),
						mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
							if st.Queued.Load() > 0 {
								return fmt.Sprintf(" parents %d/%d  rows %d", st.Parents.Load(), st.Queued.Load(), st.Rows.Load())
							}
							return fmt.Sprintf(" pages %d  listed %d  rows %d", st.Pages.Load(), st.Listed.Load(), st.Rows.Load())
						})))
					shown[st.Name] = b
				}
				// Totals are unknown up front (GitLab omits them past
				// 10,000 rows): resource-event families track parents
				// fetched against parents queued, listings and event
				// streams count pages.
				done, total := st.Parents.Load(), st.Queued.Load()
				if total == 0 {
					done, total = st.Pages.Load(), st.Pages.Load()+1
				}
				b.SetTotal(total, false)
				b.SetCurrent(done)
			}
		}
	}
}
