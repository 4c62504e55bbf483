package gitlabfake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

const testToken = "tok"

var (
	sharedOnce sync.Once
	sharedSrv  *Server
)

// shared is a default instance that tests only read from (no AddActivity, no faults).
func shared() *Server {
	sharedOnce.Do(func() { sharedSrv = New(Options{Seed: 1, Token: testToken}) })
	return sharedSrv
}

// get performs an authenticated GET directly on the handler.
func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("PRIVATE-TOKEN", testToken)
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	return rr
}

func decode[T any](t *testing.T, rr *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rr.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %q: %v", rr.Body.String(), err)
	}
	return v
}

// Local mirrors of the JSON the client decodes (independent of package extract).
type tUser struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	State    string `json:"state"`
}

type tEvent struct {
	ID             int64   `json:"id"`
	ProjectID      int64   `json:"project_id"`
	ActionName     string  `json:"action_name"`
	TargetID       *int64  `json:"target_id"`
	TargetIID      *int64  `json:"target_iid"`
	TargetType     *string `json:"target_type"`
	TargetTitle    *string `json:"target_title"`
	AuthorID       int64   `json:"author_id"`
	AuthorUsername string  `json:"author_username"`
	CreatedAt      string  `json:"created_at"`
	Author         *tUser  `json:"author"`
	Note           *struct {
		ID           int64   `json:"id"`
		Type         *string `json:"type"`
		NoteableType string  `json:"noteable_type"`
		NoteableID   int64   `json:"noteable_id"`
		NoteableIID  int64   `json:"noteable_iid"`
	} `json:"note"`
	PushData *struct {
		CommitCount int64   `json:"commit_count"`
		CommitFrom  *string `json:"commit_from"`
		Ref         string  `json:"ref"`
	} `json:"push_data"`
	WikiPage *struct {
		Slug  string `json:"slug"`
		Title string `json:"title"`
	} `json:"wiki_page"`
}

type tIssue struct {
	ID        int64   `json:"id"`
	IID       int64   `json:"iid"`
	ProjectID int64   `json:"project_id"`
	State     string  `json:"state"`
	CreatedAt string  `json:"created_at"`
	UpdatedAt string  `json:"updated_at"`
	ClosedAt  *string `json:"closed_at"`
	MergedAt  *string `json:"merged_at"`
	Author    *tUser  `json:"author"`
}

type tEpic struct {
	ID      int64 `json:"id"`
	IID     int64 `json:"iid"`
	GroupID int64 `json:"group_id"`
}

type tResEvent struct {
	ID           int64           `json:"id"`
	User         *tUser          `json:"user"`
	CreatedAt    string          `json:"created_at"`
	ResourceType string          `json:"resource_type"`
	ResourceID   int64           `json:"resource_id"`
	Action       string          `json:"action"`
	State        string          `json:"state"`
	Label        json.RawMessage `json:"label"`
	IssueID      int64           `json:"issue_id"`
}

// page is one page of a listing with its headers.
type page[T any] struct {
	rows []T
	hdr  http.Header
}

// fetchAll follows x-next-page from path (which must already carry a '?').
func fetchAll[T any](t *testing.T, h http.Handler, path string) []page[T] {
	t.Helper()
	var out []page[T]
	next := "1"
	for next != "" {
		rr := get(t, h, path+"&page="+next)
		if rr.Code != http.StatusOK {
			t.Fatalf("GET %s page %s: %d %s", path, next, rr.Code, rr.Body.String())
		}
		out = append(out, page[T]{decode[[]T](t, rr), rr.Header()})
		next = rr.Header().Get("X-Next-Page")
		if len(out) > 5000 {
			t.Fatal("runaway paging")
		}
	}
	return out
}

func flatten[T any](ps []page[T]) []T {
	var out []T
	for _, p := range ps {
		out = append(out, p.rows...)
	}
	return out
}

func parseTS(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("timestamp %q: %v", s, err)
	}
	return v
}

func itoa64(v int64) string { return strconv.FormatInt(v, 10) }
