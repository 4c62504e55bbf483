// Package redact keeps secrets and hostile server text out of what
// labtrail prints. Anything a GitLab server (or a proxy in front of it)
// sends may echo our request headers, so the token can come back inside an
// error body; and it may carry escape codes or newlines meant to colour a
// terminal or forge a log line. Every path from such text to logs, stderr,
// the _labtrail_runs.error column or a JSON summary goes through a
// Redactor.
package redact

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Redacted replaces every secret and token.
const Redacted = "[REDACTED]"

// MinSecret is the shortest secret New accepts. A shorter value cannot be
// told apart from ordinary text: hiding every "abc" would make messages
// unreadable while protecting nothing an attacker could not guess.
const MinSecret = 4

// tokenRE matches GitLab's prefixed tokens wherever they occur, so a token
// we were never told about (a job token in a CI variable, a deploy token
// echoed by a proxy) is hidden too. Prefixes are case-sensitive, as GitLab
// issues them.
var tokenRE = regexp.MustCompile(`gl(?:pat|ptt|dt|oas|rt|rtr|cbt|ft|imt|agent|soat|tst|ffct|wt)-[A-Za-z0-9_.\-]+`)

// Redactor hides secrets. The zero value and a nil *Redactor still redact
// GitLab-style tokens and escape control characters, so code that has no
// secrets to hand can never forget the rest.
type Redactor struct {
	secrets []string
}

// New returns a Redactor hiding secrets. Surrounding white space is
// trimmed (a token read from a file keeps its newline, the header we send
// does not); empty values and values shorter than MinSecret bytes are
// ignored.
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	for _, s := range secrets {
		if s = strings.TrimSpace(s); len(s) >= MinSecret && !slices.Contains(r.secrets, s) {
			r.secrets = append(r.secrets, s)
		}
	}
	return r
}

// String makes s safe to print: secrets and tokens become Redacted and
// control characters are escaped (see Escape). Secrets are looked for in
// the raw text, before escaping could change their bytes, and once more
// after it.
func (r *Redactor) String(s string) string {
	return r.hide(Escape(r.hide(s)))
}

// Error is String of err's message, "" for nil, for the many places that
// record an error as text.
func (r *Redactor) Error(err error) string {
	if err == nil {
		return ""
	}
	return r.String(err.Error())
}

// Wrap returns err under its String'd message, nil for nil. The chain is
// kept: errors.Is and errors.As still see what err wraps.
func (r *Redactor) Wrap(err error) error {
	if err == nil {
		return nil
	}
	return wrapped{err: err, msg: r.Error(err)}
}

type wrapped struct {
	err error
	msg string
}

func (w wrapped) Error() string { return w.msg }
func (w wrapped) Unwrap() error { return w.err }

// Excerpt shortens an HTTP error body for a message. Secrets are hidden
// first, so a token the cut would split cannot leave half of itself
// behind; then at most limit bytes of the result are kept (surrounding
// white space trimmed, never half a UTF-8 character), "…" is appended
// when it cut, and the kept part is passed through String. The bound is on input
// bytes: escaping can grow each kept byte to at most 4 output bytes
// ("\x1b"), so the result is at most 4*limit+3 bytes long.
func (r *Redactor) Excerpt(body []byte, limit int) string {
	s := r.hide(strings.TrimSpace(string(body)))
	if len(s) > limit {
		cut := max(limit, 0)
		// Back off to the start of the rune, but no further than a rune
		// can be long: stray continuation bytes become U+FFFD anyway.
		for n := 1; n < utf8.UTFMax && cut > 0 && !utf8.RuneStart(s[cut]); n++ {
			cut--
		}
		s = s[:cut] + "…"
	}
	return r.String(s)
}

// hide replaces the configured secrets and anything shaped like a GitLab
// token. Secrets are matched as byte ranges in the original text and the
// ranges merged, so two secrets that overlap in s are both hidden whole.
func (r *Redactor) hide(s string) string {
	if r != nil && len(r.secrets) > 0 {
		var spans [][2]int
		for _, sec := range r.secrets {
			for i := 0; ; {
				j := strings.Index(s[i:], sec)
				if j < 0 {
					break
				}
				spans = append(spans, [2]int{i + j, i + j + len(sec)})
				i += j + 1
			}
		}
		if len(spans) > 0 {
			slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
			var b strings.Builder
			last := 0 // end of the text already written or hidden
			for k, sp := range spans {
				if k == 0 || sp[0] > last {
					b.WriteString(s[last:sp[0]])
					b.WriteString(Redacted)
				}
				last = max(last, sp[1])
			}
			b.WriteString(s[last:])
			s = b.String()
		}
	}
	if !strings.Contains(s, "gl") {
		return s
	}
	return tokenRE.ReplaceAllLiteralString(s, Redacted)
}

// Escape makes text from elsewhere printable on one line without letting
// it steer a terminal: C0 controls (\n, \r, \t and \xHH for the rest, ESC
// included), DEL, C1 controls and the Unicode characters that reorder or
// break lines (bidi embeddings, overrides and isolates, U+2028, U+2029;
// as \uHHHH) are written as escapes, and invalid UTF-8 bytes become
// U+FFFD. Backslashes are left alone: a literal "\n" in the text can look
// like an escaped newline, but it cannot split a line. Escape hides no
// secrets; use a Redactor for text that may hold one.
func Escape(s string) string {
	i := 0
	for i < len(s) && s[i] >= 0x20 && s[i] < 0x7f {
		i++
	}
	if i == len(s) {
		return s
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20 || c == 0x7f:
				b.WriteString(`\x`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case unsafeRune(r):
			b.WriteString(`\u`)
			for shift := 12; shift >= 0; shift -= 4 {
				b.WriteByte(hex[r>>shift&0xf])
			}
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// unsafeRune reports the non-ASCII characters Escape writes as \uHHHH.
func unsafeRune(r rune) bool {
	return r >= 0x80 && r <= 0x9f || // C1 controls, NEL (U+0085) among them
		r == 0x2028 || r == 0x2029 || // line and paragraph separators
		r >= 0x202a && r <= 0x202e || // bidi embeddings and overrides
		r >= 0x2066 && r <= 0x2069 // bidi isolates
}

// Handler wraps h so that no log record carries a secret or a control
// character, whoever built it: the message and every attribute value,
// in groups and in attributes added with WithAttrs, pass through String.
// Keys are left alone (the program chooses them), and so are numbers,
// booleans, times and durations, which cannot hold text.
func (r *Redactor) Handler(h slog.Handler) slog.Handler {
	return &handler{r: r, h: h}
}

type handler struct {
	r *Redactor
	h slog.Handler
}

func (h *handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.h.Enabled(ctx, level)
}

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.r.attr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &handler{r: h.r, h: h.h.WithAttrs(h.r.attrs(attrs))}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{r: h.r, h: h.h.WithGroup(name)}
}

func (r *Redactor) attrs(as []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = r.attr(a)
	}
	return out
}

// attr redacts one attribute's value. Values the wrapped handler would
// render itself (structs, maps, slices: %+v in text, json.Marshal in JSON)
// are rendered with fmt and redacted instead, since a field can carry a
// token as easily as a string can; JSON output then shows them as a string.
func (r *Redactor) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, r.String(v.String()))
	case slog.KindGroup:
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(r.attrs(v.Group())...)}
	case slog.KindAny:
		if plain(v.Any()) {
			return slog.Attr{Key: a.Key, Value: v}
		}
		return slog.String(a.Key, r.String(anyText(v.Any())))
	default:
		return slog.Attr{Key: a.Key, Value: v}
	}
}

// anyText renders an Any value as the text handler would. fmt calls
// Error and String itself, and survives their panics (a nil pointer
// receiver), which a direct call would not.
func anyText(x any) string {
	switch x := x.(type) {
	case nil:
		return "<nil>"
	case []byte:
		return string(x)
	case error, fmt.Stringer:
		return fmt.Sprint(x)
	}
	return fmt.Sprintf("%+v", x)
}

// plain reports values of named number and boolean types, which slog
// files under KindAny but which cannot hold text.
func plain(x any) bool {
	switch reflect.ValueOf(x).Kind() {
	case reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		_, isErr := x.(error)
		_, isStr := x.(fmt.Stringer)
		return !isErr && !isStr
	}
	return false
}
