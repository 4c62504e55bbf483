package extract

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// AdvertisedRate records the request rate a GitLab server advertises on its
// answers: RateLimit-Limit, requests a minute (GitLab.com: 2,000). The
// throttle acts on RateLimit-Remaining and RateLimit-Reset; the limit
// itself only matters for estimates (`labtrail plan`).
type AdvertisedRate struct {
	perMinute atomic.Int64
}

// Watch returns o with its HTTP client's transport wrapped so that a client
// built from it records every answer's RateLimit-Limit in a. NewClient
// still puts its guard (origin, body caps, header checks) in front.
func (a *AdvertisedRate) Watch(o Options) Options {
	var hc http.Client
	if o.HTTPClient != nil {
		hc = *o.HTTPClient
	} else {
		// What NewClient builds when given no client.
		d := o.withDefaults()
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = d.Concurrency
		hc.Transport, hc.Timeout = tr, d.Timeout
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = rateRecorder{next: next, rate: a}
	o.HTTPClient = &hc
	return o
}

// PerMinute is the last RateLimit-Limit seen, and whether one was.
func (a *AdvertisedRate) PerMinute() (int64, bool) {
	n := a.perMinute.Load()
	return n, n > 0
}

type rateRecorder struct {
	next http.RoundTripper
	rate *AdvertisedRate
}

func (r rateRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err == nil {
		if n, perr := strconv.ParseInt(strings.TrimSpace(resp.Header.Get("RateLimit-Limit")), 10, 64); perr == nil && n > 0 {
			r.rate.perMinute.Store(n)
		}
	}
	return resp, err
}
