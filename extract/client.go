// Package extract reads GitLab's event endpoints page by page. It builds
// requests, authenticates and reads pagination headers with GitLab's own
// client (gitlab.com/gitlab-org/api/client-go), but owns the retry policy:
// client-go's retryablehttp cannot retry a 200 whose body is cut off, does
// not pause the whole pool on a 429 and does not slow down as
// RateLimit-Remaining runs out, and all three happen on real instances.
package extract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	gitlab "gitlab.com/gitlab-org/api/client-go"
	"golang.org/x/sync/semaphore"

	"github.com/labtrail/labtrail/internal/redact"
)

// Errors a caller can act on. They are wrapped with the endpoint and page.
var (
	// ErrUnauthorized: the server rejected the token (401). Never retried:
	// the run should stop at once.
	ErrUnauthorized = errors.New("token rejected")
	// ErrForbidden: 403, not allowed or not licensed (Premium streams on Free).
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: 404, the project, group, user or parent is gone or invisible.
	ErrNotFound = errors.New("not found")
	// ErrGaveUp: a transient fault persisted through every attempt.
	ErrGaveUp = errors.New("gave up after retries")
	// ErrWrongOrigin: the run's first request was redirected elsewhere
	// (ErrRedirect): the configured URL points at a login page or the wrong
	// host, so every other request would be too. The run stops at once.
	ErrWrongOrigin = errors.New("gitlab.url does not answer as GitLab's API")
	// ErrWaitTooLong: the server asked for a pause (Retry-After,
	// RateLimit-Reset) longer than gitlab.max_wait. The run stops rather
	// than hold the warehouse lock for as long as a server likes.
	ErrWaitTooLong = errors.New("server asked for too long a wait")
	// ErrTooManyPages: a listing named more pages than gitlab.max_pages,
	// or a page repeated the previous page's rows.
	ErrTooManyPages = errors.New("listing does not end")
)

// Defaults of the bounds on what a server may make a run do. They are the
// config's defaults (internal/config fills them); NewClient applies them to
// zero Options too, so that no Client is ever unbounded.
// DefaultOptions are the client's defaults, declared once: NewClient fills
// an Options' zero fields from them, and config fills the gitlab section's
// keys from them (so `labtrail validate` and the README agree with what a
// client built without config does).
func DefaultOptions() Options {
	return Options{
		Concurrency: 8,
		MaxAttempts: 8,
		Timeout:     60 * time.Second,
		// A page of 100 GitLab objects is well under 10 MB.
		MaxResponseBytes: 64 << 20,
		MaxPages:         100_000,
		MaxWait:          15 * time.Minute,
		BackoffBase:      500 * time.Millisecond,
	}
}

// Options configure a Client. Zero fields take DefaultOptions' values.
type Options struct {
	BaseURL           string // instance URL; /api/v4 is added
	Token             string
	TokenEnv          string // named in the 401 message, never the token
	Concurrency       int    // requests in flight at once
	RequestsPerSecond float64
	MaxAttempts       int           // for 5xx, network faults, bad bodies
	Timeout           time.Duration // per attempt
	// MaxResponseBytes caps a body after decompression; MaxPages caps the
	// pages of one listing; MaxWait caps any single pause a server asks for.
	MaxResponseBytes int64
	MaxPages         int64
	MaxWait          time.Duration
	Logger           *slog.Logger
	HTTPClient       *http.Client // tests; nil = a pooled client with Timeout
	// BackoffBase is the first retry delay (doubled each attempt, full
	// jitter, capped at 30 s). Tests shorten it.
	BackoffBase time.Duration
}

func (o Options) withDefaults() Options {
	def := DefaultOptions()
	positive(&o.Concurrency, def.Concurrency)
	positive(&o.MaxAttempts, def.MaxAttempts)
	positive(&o.Timeout, def.Timeout)
	positive(&o.BackoffBase, def.BackoffBase)
	positive(&o.MaxResponseBytes, def.MaxResponseBytes)
	positive(&o.MaxPages, def.MaxPages)
	positive(&o.MaxWait, def.MaxWait)
	return o
}

// positive sets *v to def unless it is positive.
func positive[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Stats counts what a run cost. All fields are updated atomically.
type Stats struct {
	Requests  atomic.Int64 // attempts sent, including retries
	Retries   atomic.Int64
	Throttled atomic.Int64 // 429 answers
	Bytes     atomic.Int64 // response body bytes
	// RoundTrip sums, in nanoseconds, the time from sending each request
	// to having its whole body: the server's latency plus what the client
	// machine adds (scheduling, TLS, reading), which bounds what a pool of
	// concurrency workers can reach on it.
	RoundTrip atomic.Int64
}

// Client is a GitLab REST client for the endpoints labtrail reads. It is
// safe for concurrent use; at most Options.Concurrency requests are in
// flight at once.
type Client struct {
	gl  *gitlab.Client
	sem *semaphore.Weighted
	// bodies bounds the bytes all responses in flight may hold together
	// (2 x max_response_bytes): max_response_bytes bounds one answer, but
	// concurrency x max would let a few hostile answers at once take
	// gigabytes. A body that finds the budget spent fails its attempt
	// (ErrTooLarge, retried); a real page of 100 objects never comes near.
	bodies      *semaphore.Weighted
	bodyBudget  int64
	throttle    *Throttle
	redact      *redact.Redactor
	tokenEnv    string
	maxAttempts int
	maxPages    int64
	backoffBase time.Duration
	log         *slog.Logger
	clock       serverClock
	// origin is gitlab.url's scheme, host and port, and api the path
	// under which /api/v4 routes live: a keyset listing's next-page URL
	// is followed only if it lies there (see listKeyset).
	origin *url.URL
	api    string
	Stats  Stats
}

// NewClient builds a client. It sends nothing.
func NewClient(o Options) (*Client, error) {
	o = o.withDefaults()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	origin, err := url.Parse(strings.TrimRight(o.BaseURL, "/"))
	if err != nil || origin.Host == "" {
		return nil, fmt.Errorf("gitlab url %q: not an absolute URL", o.BaseURL)
	}
	hc := newHTTPClient(o.HTTPClient, origin, o.MaxResponseBytes, o.Concurrency)
	if o.HTTPClient == nil {
		hc.Timeout = o.Timeout
	}
	gl, err := gitlab.NewClient(o.Token,
		gitlab.WithBaseURL(origin.String()+"/api/v4"),
		gitlab.WithHTTPClient(hc),
		gitlab.WithoutRetries(),
		gitlab.WithCustomLimiter(noLimit{}),
		gitlab.WithUserAgent("labtrail"),
	)
	if err != nil {
		return nil, fmt.Errorf("gitlab client for %s: %w", origin.Redacted(), err)
	}
	c := &Client{
		gl:          gl,
		sem:         semaphore.NewWeighted(int64(o.Concurrency)),
		bodies:      semaphore.NewWeighted(2 * o.MaxResponseBytes),
		bodyBudget:  2 * o.MaxResponseBytes,
		redact:      redact.New(o.Token),
		tokenEnv:    o.TokenEnv,
		maxAttempts: o.MaxAttempts,
		maxPages:    o.MaxPages,
		backoffBase: o.BackoffBase,
		log:         o.Logger,
		origin:      origin,
		api:         origin.EscapedPath() + "/api/v4/",
	}
	c.throttle = newThrottle(o.RequestsPerSecond, o.Concurrency, o.MaxWait, &c.clock)
	return c, nil
}

// MaxPages is the bound on the pages of one listing (gitlab.max_pages).
// A caller that reads one listing in windows applies it to all of them
// together: each window is a listing of its own to the pager.
func (c *Client) MaxPages() int64 { return c.maxPages }

// Throttle exposes the shared throttle (for progress: time spent waiting).
func (c *Client) Throttle() *Throttle { return c.throttle }

type noLimit struct{}

func (noLimit) Wait(context.Context) error { return nil }

// maxThrottledAttempts bounds 429 retries separately from faults: being
// throttled is expected under a rate limit and costs nothing but time, yet
// a server that answers 429 forever must not hold a run forever.
const maxThrottledAttempts = 50

// errorExcerptBytes is how much of an error body a message quotes.
const errorExcerptBytes = 300

// request is what one GET asks for: path (under /api/v4) with query q,
// or, for the pages of a keyset listing after its first, the URL the
// server named (next), already checked to lie on the origin and path.
type request struct {
	path   string
	q      url.Values
	next   *url.URL
	keyset bool  // the answer's next page is a Link URL, not a page number
	page   int64 // the page's number in a keyset listing, for messages
}

// endpoint names the request in messages: the path and page, never the
// query (a cursor is the server's text).
func (r request) endpoint() string {
	switch {
	case r.keyset:
		return r.path + " keyset page " + strconv.FormatInt(r.page, 10)
	case r.q.Get("page") != "":
		return r.path + " page " + r.q.Get("page")
	}
	return r.path
}

// get fetches one page of path with query q, decodes it into v, checks it
// with check (when not nil) and returns the next page number (0 when this
// was the last page). It retries 429 (after the pool-wide pause), 5xx,
// network faults, and bodies that are not valid JSON, too large, null or
// fail check, so that a page is either wholly read and trusted or not used
// at all. A body that is valid JSON of the wrong shape is not retried.
func (c *Client) get(ctx context.Context, path string, q url.Values, v any, check func() error) (page, error) {
	return c.fetch(ctx, request{path: path, q: q}, v, check)
}

// fetch is get for any request.
func (c *Client) fetch(ctx context.Context, r request, v any, check func() error) (page, error) {
	endpoint := r.endpoint()
	faults, throttled := 0, 0
	for {
		pg, status, retryAfter, err := c.attempt(ctx, r, v, check)
		if err == nil {
			return pg, nil
		}
		if ctx.Err() != nil {
			return page{}, context.Cause(ctx)
		}
		if ue := (*url.Error)(nil); errors.Is(err, ErrRedirect) && errors.As(err, &ue) {
			err = ue.Err // the refusal names the target's origin; the full URL is the server's text
		}
		switch {
		case errors.Is(err, ErrRedirect) && c.Stats.Requests.Load() == 1:
			return page{}, fmt.Errorf("GET %s: %w: %w", endpoint, ErrWrongOrigin, err)
		case errors.Is(err, ErrRedirect), errors.Is(err, ErrWaitTooLong):
			return page{}, fmt.Errorf("GET %s: %w", endpoint, err)
		case status == http.StatusUnauthorized:
			return page{}, fmt.Errorf("GET %s: %w: GitLab answered 401 Unauthorized; check the token in $%s (expired, revoked or lacking read_api scope)", endpoint, ErrUnauthorized, c.tokenEnv)
		case status == http.StatusForbidden:
			return page{}, fmt.Errorf("GET %s: %w (403)", endpoint, ErrForbidden)
		case status == http.StatusNotFound:
			return page{}, fmt.Errorf("GET %s: %w (404)", endpoint, ErrNotFound)
		case status == http.StatusTooManyRequests:
			c.Stats.Throttled.Add(1)
			throttled++
			if throttled >= maxThrottledAttempts {
				return page{}, fmt.Errorf("GET %s: %w: still throttled (429) after %d attempts", endpoint, ErrGaveUp, throttled)
			}
			if retryAfter <= 0 {
				retryAfter = c.backoff(throttled)
			}
			// Jitter spreads the pool's wake-up so it does not hit the
			// server as one burst.
			c.throttle.Throttled(time.Now(), retryAfter+rand.N(retryAfter/4+time.Millisecond))
			c.Stats.Retries.Add(1)
			continue
		case status >= 500 || status == 0:
			faults++
			if faults >= c.maxAttempts {
				return page{}, fmt.Errorf("GET %s: %w (%d attempts): %w", endpoint, ErrGaveUp, faults, err)
			}
			c.log.Debug("retrying", "endpoint", endpoint, "attempt", faults, "err", err)
			c.Stats.Retries.Add(1)
			if err := sleep(ctx, c.backoff(faults)); err != nil {
				return page{}, err
			}
			continue
		default:
			return page{}, fmt.Errorf("GET %s: %w", endpoint, err)
		}
	}
}

// backoff is exponential with full jitter, capped at 30 s.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.backoffBase << min(attempt-1, 10)
	d = min(d, 30*time.Second)
	return d/2 + rand.N(d/2+1)
}

// attempt sends one request and decodes its body into v. status is 0 for
// faults below HTTP (network, timeout, cut-off, oversized or invalid body,
// a page that fails check), which are retryable, and -1 for errors that no
// retry can mend.
func (c *Client) attempt(ctx context.Context, r request, v any, check func() error) (pg page, status int, retryAfter time.Duration, err error) {
	if err := c.throttle.Wait(ctx); err != nil {
		return page{}, 0, 0, err
	}
	if err := c.sem.Acquire(ctx, 1); err != nil {
		return page{}, 0, 0, err
	}
	// The slot is the request's, not the decoding's: it is given back as
	// soon as the body is read, so that another request is on the wire
	// while this one's JSON is decoded.
	release := sync.OnceFunc(func() { c.sem.Release(1) })
	defer release()

	req, err := c.gl.NewRequest(http.MethodGet, r.path, nil, []gitlab.RequestOptionFunc{
		gitlab.WithContext(ctx),
		func(req *retryablehttp.Request) error {
			if r.next != nil {
				u := *r.next // as the server gave it: its cursor is opaque
				req.URL = &u
				return nil
			}
			req.URL.RawQuery = r.q.Encode()
			return nil
		},
	})
	if err != nil {
		return page{}, -1, 0, fmt.Errorf("building request: %w", err)
	}
	c.Stats.Requests.Add(1)
	body := &bodyBuffer{budget: c.bodies, total: c.bodyBudget}
	defer body.release()
	sent := time.Now()
	resp, err := c.do(req, body)
	c.Stats.RoundTrip.Add(int64(time.Since(sent)))
	release()
	c.Stats.Bytes.Add(body.n)
	if resp != nil && resp.Response != nil {
		c.clock.observe(resp.Header, time.Now())
		if werr := c.throttle.Observe(resp.Header, time.Now()); werr != nil {
			return page{}, -1, 0, werr
		}
	}
	if err != nil {
		if resp == nil || resp.Response == nil {
			return page{}, 0, 0, c.scrub(err) // network fault, timeout, refused redirect, bad header
		}
		status = resp.StatusCode
		if status < 300 {
			return page{}, 0, 0, fmt.Errorf("reading body: %w", c.scrub(err)) // cut off mid-body or too large
		}
		if status == http.StatusTooManyRequests {
			retryAfter, err := c.retryAfter(resp.Header)
			if err != nil {
				return page{}, -1, 0, err
			}
			return page{}, status, retryAfter, errors.New("429 Too Many Requests")
		}
		return page{}, status, 0, c.statusError(status, err)
	}
	data := body.Bytes()
	if t := bytes.TrimSpace(data); bytes.Equal(t, []byte("null")) || len(t) == 0 {
		return page{}, 0, 0, fmt.Errorf("%w: status %d with a %s body where GitLab sends JSON", ErrBadAnswer, resp.StatusCode, map[bool]string{true: "null", false: "empty"}[len(t) > 0])
	}
	// Unmarshal checks the whole body before it fills v, so a cut-off
	// page never leaves v half-filled.
	if err := json.Unmarshal(data, v); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) {
			return page{}, 0, 0, fmt.Errorf("status %d with a body that is not valid JSON (%d bytes, cut off?): %w", resp.StatusCode, len(data), err)
		}
		return page{}, -1, 0, fmt.Errorf("decoding: %w", c.scrub(err))
	}
	if check != nil {
		if err := check(); err != nil {
			return page{}, 0, 0, fmt.Errorf("%w: %w", ErrBadAnswer, err)
		}
	}
	pg, err = c.pageOf(resp, r.keyset)
	if err != nil {
		return page{}, 0, 0, err
	}
	return pg, resp.StatusCode, 0, nil
}

// do is gl.Do with a last line of defence: a panic inside the client
// library (it has panicked on malformed headers) becomes a failed request
// instead of ending the process without a run record.
func (c *Client) do(req *retryablehttp.Request, w io.Writer) (resp *gitlab.Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, fmt.Errorf("%w: the GitLab client library failed on this answer: %v", ErrBadAnswer, p)
		}
	}()
	return c.gl.Do(req, w)
}

// statusError describes a non-2xx answer by its status and a short,
// cleaned excerpt of its body: error bodies are the server's words, and a
// proxy may echo the request's headers (the token) or terminal escapes.
func (c *Client) statusError(status int, err error) error {
	msg := http.StatusText(status)
	var re *gitlab.ErrorResponse
	if errors.As(err, &re) && len(re.Body) > 0 {
		msg += ": " + c.redact.Excerpt(re.Body, errorExcerptBytes)
	}
	return fmt.Errorf("status %d %s", status, msg)
}

// scrub makes an error from below (the HTTP stack, the decoder) safe to
// log: its text may quote the server. The chain is kept (errors.Is still
// sees ErrRedirect, ErrTooLarge).
func (c *Client) scrub(err error) error { return c.redact.Wrap(err) }

// retryAfter reads Retry-After (seconds or an HTTP date, the latter on the
// server's clock) and refuses a wait over the client's max_wait.
func (c *Client) retryAfter(h http.Header) (time.Duration, error) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, nil
	}
	var d time.Duration
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		d = time.Duration(min(s, math.MaxInt64/int64(time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(c.clock.now(time.Now()))
	} else {
		return 0, nil // unreadable: back off as if absent
	}
	if err := c.throttle.checkWait("Retry-After: "+c.redact.Excerpt([]byte(v), 40), d); err != nil {
		return 0, err
	}
	return max(d, 0), nil
}

// bodyBuffer collects a body for decoding in chunks of at most 1 MiB, so
// that a body the transport cuts off at max_response_bytes has cost about
// that many bytes (a doubling buffer costs up to twice that, and the copy
// at each growth more); only a complete body is joined into one slice.
type bodyBuffer struct {
	chunks   [][]byte
	n        int64
	budget   *semaphore.Weighted // shared by the client's requests
	total    int64               // the budget's size, for the message
	reserved int64
}

// release returns the buffer's reservation; the caller is done with it.
func (w *bodyBuffer) release() {
	w.budget.Release(w.reserved)
	w.chunks, w.reserved = nil, 0
}

const bodyChunk = 1 << 20

func (w *bodyBuffer) Write(p []byte) (int, error) {
	written := len(p)
	for len(p) > 0 {
		if k := len(w.chunks); k == 0 || len(w.chunks[k-1]) == cap(w.chunks[k-1]) {
			size := min(max(32<<10, int(w.n)), bodyChunk) // small bodies stay small
			if !w.budget.TryAcquire(int64(size)) {
				return 0, fmt.Errorf("%w: responses in flight hold more than %d bytes (2 x gitlab.max_response_bytes)", ErrTooLarge, w.total)
			}
			w.reserved += int64(size)
			w.chunks = append(w.chunks, make([]byte, 0, size))
		}
		last := &w.chunks[len(w.chunks)-1]
		k := min(cap(*last)-len(*last), len(p))
		*last = append(*last, p[:k]...)
		p = p[k:]
		w.n += int64(k)
	}
	return written, nil
}

// Bytes is the whole body.
func (w *bodyBuffer) Bytes() []byte {
	if len(w.chunks) == 1 {
		return w.chunks[0]
	}
	return bytes.Join(w.chunks, nil)
}

// ServerNow is the server's clock as its Date headers tell it (the local
// clock until a response with a Date arrived).
func (c *Client) ServerNow() time.Time { return c.clock.now(time.Now()) }

// serverClock follows the offset between the server's Date header and the
// local clock, so that watermarks can be checked against the server's own
// idea of now (rows dated past it cannot be trusted as a watermark), and
// RateLimit-Reset, an instant on the server's clock, becomes a wait.
type serverClock struct {
	offset atomic.Int64 // server - local, in nanoseconds
}

func (s *serverClock) observe(h http.Header, local time.Time) {
	if t, err := http.ParseTime(h.Get("Date")); err == nil {
		s.offset.Store(int64(t.Sub(local.Truncate(time.Second))))
	}
}

func (s *serverClock) now(local time.Time) time.Time {
	if s == nil {
		return local
	}
	return local.Add(time.Duration(s.offset.Load()))
}

// page is what a listing page's headers say: the next page (0: none) and
// the listing's extent.
type page struct {
	next   int64
	extent Extent
	link   *url.URL // keyset listings: the Link rel="next" URL (nil: none)
}

// Extent is what GitLab says about a whole listing on each of its pages.
// Past 10,000 rows GitLab omits both totals: they are then -1.
type Extent struct {
	Total, TotalPages int64
}

// Known reports whether GitLab gave the totals.
func (e Extent) Known() bool { return e.Total >= 0 && e.TotalPages >= 0 }

// pageOf reads a page's headers. Unreadable totals are taken as omitted
// (they only ever size work); an unreadable next page is a bad answer. A
// keyset page names its successor only by a Link URL.
func (c *Client) pageOf(resp *gitlab.Response, keyset bool) (page, error) {
	pg := page{extent: Extent{Total: -1, TotalPages: -1}}
	if keyset {
		link, err := c.nextLink(resp)
		pg.link = link
		return pg, err
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(resp.Header.Get("X-Total")), 10, 64); err == nil && n >= 0 {
		pg.extent.Total = n
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(resp.Header.Get("X-Total-Pages")), 10, 64); err == nil && n >= 0 {
		pg.extent.TotalPages = n
	}
	next, err := c.nextPage(resp)
	pg.next = next
	return pg, err
}

// nextPage reads x-next-page, or failing that the Link header's rel="next";
// 0 means no next page. A short page is never taken to mean the end, and a
// next page named in a form labtrail cannot read is a bad answer, not an
// end: stopping there would silently drop the rest of the listing.
func (c *Client) nextPage(resp *gitlab.Response) (int64, error) {
	if v := resp.Header.Get("X-Next-Page"); v != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%w: x-next-page %q is not a page number", ErrBadAnswer, c.redact.Excerpt([]byte(v), 40))
		}
		return n, nil
	}
	u, err := c.nextLink(resp)
	if u == nil || err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(u.Query().Get("page"), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%w: Link rel=\"next\" names no page number", ErrBadAnswer)
	}
	return n, nil
}

// nextLink reads the Link header's rel="next" URL (nil: none), resolved
// against the request's URL. The transport has checked the header's shape.
func (c *Client) nextLink(resp *gitlab.Response) (*url.URL, error) {
	for _, link := range strings.Split(resp.Header.Get("Link"), ",") {
		parts := strings.Split(link, ";")
		if len(parts) < 2 || !strings.Contains(parts[1], `rel="next"`) {
			continue
		}
		u, err := url.Parse(strings.Trim(strings.TrimSpace(parts[0]), "<>"))
		if err != nil {
			return nil, fmt.Errorf("%w: Link rel=\"next\" is not a URL", ErrBadAnswer)
		}
		if resp.Request != nil && resp.Request.URL != nil {
			u = resp.Request.URL.ResolveReference(u)
		}
		return u, nil
	}
	return nil, nil
}
