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
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	gitlab "gitlab.com/gitlab-org/api/client-go"
	"golang.org/x/sync/semaphore"
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
)

// Options configure a Client.
type Options struct {
	BaseURL           string // instance URL; /api/v4 is added
	Token             string
	TokenEnv          string // named in the 401 message, never the token
	Concurrency       int    // requests in flight at once
	RequestsPerSecond float64
	MaxAttempts       int           // for 5xx, network faults, bad bodies
	Timeout           time.Duration // per attempt
	Logger            *slog.Logger
	HTTPClient        *http.Client // tests; nil = a pooled client with Timeout
	// BackoffBase is the first retry delay (doubled each attempt, full
	// jitter, capped at 30 s); 0 = 500 ms. Tests shorten it.
	BackoffBase time.Duration
}

// Stats counts what a run cost. All fields are updated atomically.
type Stats struct {
	Requests  atomic.Int64 // attempts sent, including retries
	Retries   atomic.Int64
	Throttled atomic.Int64 // 429 answers
	Bytes     atomic.Int64 // response body bytes
}

// Client is a GitLab REST client for the endpoints labtrail reads. It is
// safe for concurrent use; at most Options.Concurrency requests are in
// flight at once.
type Client struct {
	gl          *gitlab.Client
	sem         *semaphore.Weighted
	throttle    *Throttle
	tokenEnv    string
	maxAttempts int
	backoffBase time.Duration
	log         *slog.Logger
	Stats       Stats
}

// NewClient builds a client. It sends nothing.
func NewClient(o Options) (*Client, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = 500 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	hc := o.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = o.Concurrency
		hc = &http.Client{Transport: tr, Timeout: o.Timeout}
	}
	base := strings.TrimRight(o.BaseURL, "/") + "/api/v4"
	gl, err := gitlab.NewClient(o.Token,
		gitlab.WithBaseURL(base),
		gitlab.WithHTTPClient(hc),
		gitlab.WithoutRetries(),
		gitlab.WithCustomLimiter(noLimit{}),
		gitlab.WithUserAgent("labtrail"),
	)
	if err != nil {
		return nil, fmt.Errorf("gitlab client for %s: %w", o.BaseURL, err)
	}
	return &Client{
		gl:          gl,
		sem:         semaphore.NewWeighted(int64(o.Concurrency)),
		throttle:    NewThrottle(o.RequestsPerSecond, o.Concurrency),
		tokenEnv:    o.TokenEnv,
		maxAttempts: o.MaxAttempts,
		backoffBase: o.BackoffBase,
		log:         o.Logger,
	}, nil
}

// Throttle exposes the shared throttle (for progress: time spent waiting).
func (c *Client) Throttle() *Throttle { return c.throttle }

type noLimit struct{}

func (noLimit) Wait(context.Context) error { return nil }

// maxThrottledAttempts bounds 429 retries separately from faults: being
// throttled is expected under a rate limit and costs nothing but time, yet
// a server that answers 429 forever must not hold a run forever.
const maxThrottledAttempts = 50

// get fetches one page of path with query q, decodes it into v and returns
// the next page number (0 when this was the last page). It retries 429
// (after the pool-wide pause), 5xx, network faults and bodies that are not
// valid JSON, so that a page is either wholly read or not used at all. A
// body that is valid JSON of the wrong shape is not retried.
func (c *Client) get(ctx context.Context, path string, q url.Values, v any) (int64, error) {
	endpoint := path
	if p := q.Get("page"); p != "" {
		endpoint += " page " + p
	}
	faults, throttled := 0, 0
	for {
		next, status, retryAfter, err := c.attempt(ctx, path, q, v)
		if err == nil {
			return next, nil
		}
		if ctx.Err() != nil {
			return 0, context.Cause(ctx)
		}
		switch {
		case status == http.StatusUnauthorized:
			return 0, fmt.Errorf("GET %s: %w: GitLab answered 401 Unauthorized; check the token in $%s (expired, revoked or lacking read_api scope)", endpoint, ErrUnauthorized, c.tokenEnv)
		case status == http.StatusForbidden:
			return 0, fmt.Errorf("GET %s: %w (403)", endpoint, ErrForbidden)
		case status == http.StatusNotFound:
			return 0, fmt.Errorf("GET %s: %w (404)", endpoint, ErrNotFound)
		case status == http.StatusTooManyRequests:
			c.Stats.Throttled.Add(1)
			throttled++
			if throttled >= maxThrottledAttempts {
				return 0, fmt.Errorf("GET %s: %w: still throttled (429) after %d attempts", endpoint, ErrGaveUp, throttled)
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
				return 0, fmt.Errorf("GET %s: %w (%d attempts): %w", endpoint, ErrGaveUp, faults, err)
			}
			c.log.Debug("retrying", "endpoint", endpoint, "attempt", faults, "err", err)
			c.Stats.Retries.Add(1)
			if err := sleep(ctx, c.backoff(faults)); err != nil {
				return 0, err
			}
			continue
		default:
			return 0, fmt.Errorf("GET %s: %w", endpoint, err)
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
// faults below HTTP (network, timeout, cut-off or invalid body), which are
// retryable, and -1 for errors that no retry can mend.
func (c *Client) attempt(ctx context.Context, path string, q url.Values, v any) (next int64, status int, retryAfter time.Duration, err error) {
	if err := c.throttle.Wait(ctx); err != nil {
		return 0, 0, 0, err
	}
	if err := c.sem.Acquire(ctx, 1); err != nil {
		return 0, 0, 0, err
	}
	defer c.sem.Release(1)

	req, err := c.gl.NewRequest(http.MethodGet, path, nil, []gitlab.RequestOptionFunc{
		gitlab.WithContext(ctx),
		func(r *retryablehttp.Request) error { r.URL.RawQuery = q.Encode(); return nil },
	})
	if err != nil {
		return 0, -1, 0, fmt.Errorf("building request: %w", err)
	}
	c.Stats.Requests.Add(1)
	var buf bytes.Buffer
	resp, err := c.gl.Do(req, &buf)
	c.Stats.Bytes.Add(int64(buf.Len()))
	if resp != nil {
		c.throttle.Observe(resp.Header, time.Now())
	}
	if err != nil {
		if resp == nil || resp.Response == nil {
			return 0, 0, 0, err // network fault or timeout
		}
		status = resp.StatusCode
		if status < 300 {
			return 0, 0, 0, fmt.Errorf("reading body: %w", err) // cut off mid-body
		}
		if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s >= 0 {
			retryAfter = time.Duration(s) * time.Second
		}
		return 0, status, retryAfter, err
	}
	// Unmarshal checks the whole body before it fills v, so a cut-off
	// page never leaves v half-filled.
	if err := json.Unmarshal(buf.Bytes(), v); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, 0, 0, fmt.Errorf("status %d with a body that is not valid JSON (%d bytes, cut off?): %w", resp.StatusCode, buf.Len(), err)
		}
		return 0, -1, 0, fmt.Errorf("decoding: %w", err)
	}
	return nextPage(resp), resp.StatusCode, 0, nil
}

// nextPage reads x-next-page, or failing that the Link header's rel="next";
// 0 means no next page. A short page is never taken to mean the end.
func nextPage(resp *gitlab.Response) int64 {
	if resp.NextPage > 0 {
		return resp.NextPage
	}
	if resp.Header.Get("X-Next-Page") != "" {
		return 0 // present but not a number: treat as the end, as GitLab's clients do
	}
	for _, link := range strings.Split(resp.Header.Get("Link"), ",") {
		parts := strings.Split(link, ";")
		if len(parts) < 2 || !strings.Contains(parts[1], `rel="next"`) {
			continue
		}
		u, err := url.Parse(strings.Trim(strings.TrimSpace(parts[0]), "<>"))
		if err != nil {
			continue
		}
		if n, err := strconv.ParseInt(u.Query().Get("page"), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 0
}
