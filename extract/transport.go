package extract

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Errors of the guard below. They are wrapped with the endpoint and page.
var (
	// ErrRedirect: the server redirected a request to another origin. GitLab's
	// API does not redirect GETs; a redirect elsewhere is a login proxy, a
	// misconfigured load balancer or a compromised host, and following it
	// would hand the PRIVATE-TOKEN header (which Go's client does not strip
	// across hosts) to whoever is there. Never retried.
	ErrRedirect = errors.New("redirect to another origin refused")
	// ErrTooLarge: a body grew past gitlab.max_response_bytes after
	// decompression. Retried like a cut-off body, then the scope fails.
	ErrTooLarge = errors.New("response too large")
	// ErrBadAnswer: a 2xx whose headers or rows cannot be trusted (a
	// malformed Link header, rows without the ids a table's key needs, a
	// null body). Retried like a cut-off body, then the scope fails.
	ErrBadAnswer = errors.New("bad answer")
)

// errorBodyBytes bounds how much of a non-2xx body is read: only an excerpt
// of it is ever shown, and a hostile server can make it endless.
const errorBodyBytes = 16 << 10

// guard is the transport under every request labtrail sends. It is the one
// place that enforces what a server may not do to a run whatever the
// response: send the token to another origin, hand over an unbounded body,
// or feed the client library a header it would panic on.
type guard struct {
	next     http.RoundTripper
	origin   *url.URL
	maxBytes int64
}

// newHTTPClient wraps hc (or a pooled default) with the guard and a
// redirect policy that stays on origin. hc itself is not modified.
func newHTTPClient(hc *http.Client, origin *url.URL, maxBytes int64, concurrency int) *http.Client {
	var out http.Client
	if hc != nil {
		out = *hc
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = concurrency
		out.Transport = tr
	}
	next := out.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	out.Transport = &guard{next: next, origin: origin, maxBytes: maxBytes}
	out.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		status := 0
		if req.Response != nil {
			status = req.Response.StatusCode
		}
		if !sameOrigin(req.URL, origin) {
			return redirectError(status, req.URL, origin)
		}
		if len(via) >= 5 {
			return fmt.Errorf("%w: %d redirects within %s", ErrBadAnswer, len(via), originString(origin))
		}
		return nil
	}
	return &out
}

func sameOrigin(u, origin *url.URL) bool {
	return strings.EqualFold(u.Scheme, origin.Scheme) && strings.EqualFold(hostPort(u), hostPort(origin))
}

// hostPort spells the port out, so that https://h and https://h:443 are one origin.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return u.Host + ":443"
	case "http":
		return u.Host + ":80"
	}
	return u.Host
}

func originString(u *url.URL) string { return u.Scheme + "://" + u.Host }

// redirectError names the status and where it pointed (scheme and host
// only: a path or query could carry anything).
func redirectError(status int, to, origin *url.URL) error {
	what := "another origin"
	if strings.EqualFold(to.Hostname(), origin.Hostname()) && strings.EqualFold(origin.Scheme, "https") && !strings.EqualFold(to.Scheme, "https") {
		what = "plain http (a downgrade)"
	}
	return fmt.Errorf("%w: the server answered %d redirecting to %s, which is %s, not the configured %s; not followed, so the token stays on its host",
		ErrRedirect, status, originString(to), what, originString(origin))
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	// CheckRedirect already refuses other origins; this makes sure nothing
	// else (a Link URL, a future code path) can send the token elsewhere.
	if !sameOrigin(req.URL, g.origin) {
		return nil, redirectError(0, req.URL, g.origin)
	}
	resp, err := g.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if l := resp.Header.Values("Link"); len(l) > 0 {
		for _, v := range l {
			if !linkRE.MatchString(v) {
				resp.Body.Close()
				return nil, fmt.Errorf("%w: malformed Link header (%d bytes)", ErrBadAnswer, len(v))
			}
		}
	}
	limit, hard := g.maxBytes, true
	if resp.StatusCode >= 300 {
		limit, hard = errorBodyBytes, false
	}
	resp.Body = &limitedBody{rc: resp.Body, left: limit, limit: limit, hard: hard}
	return resp, nil
}

// linkRE is RFC 8288's shape, as GitLab writes it: comma-separated
// <uri-reference> entries, each with one or more ;param=value pairs. The
// client library splits on ";" and "=" without checking and panics on less.
var linkRE = regexp.MustCompile(`^\s*<[^<>]*>(\s*;\s*[A-Za-z*-]+\s*=\s*("[^"]*"|[^",;\s]+))+\s*(,\s*<[^<>]*>(\s*;\s*[A-Za-z*-]+\s*=\s*("[^"]*"|[^",;\s]+))+\s*)*$`)

// limitedBody reads at most limit bytes (after the transport's gzip
// decoding, so a small compressed bomb is bounded too). A hard limit turns
// the excess into ErrTooLarge; a soft one (error bodies, only excerpted)
// ends the body early.
type limitedBody struct {
	rc          io.ReadCloser
	left, limit int64
	hard        bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		if !b.hard {
			return 0, io.EOF
		}
		// One more byte tells a body of exactly limit bytes from a longer one.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%w: more than %d bytes (gitlab.max_response_bytes)", ErrTooLarge, b.limit)
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
