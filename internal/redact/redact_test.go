package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestString(t *testing.T) {
	withSecret := New("hunter2-secret")
	for _, c := range []struct {
		name string
		r    *Redactor
		in   string
		want string
	}{
		{"token mid-text", nil, "401: PRIVATE-TOKEN: glpat-AbC123_x.y-z was rejected", "401: PRIVATE-TOKEN: [REDACTED] was rejected"},
		{"glptt", nil, "trigger glptt-0123abcd", "trigger [REDACTED]"},
		{"gldt", nil, "deploy=gldt-XYZ.9;", "deploy=[REDACTED];"},
		{"other prefixes", nil, "glrt-a glrtr-b glagent-c glsoat-d gloas-e glcbt-f glft-g glimt-h gltst-i glffct-j glwt-k", strings.TrimSpace(strings.Repeat("[REDACTED] ", 11))},
		{"token inside word", nil, "xglpat-abc", "x[REDACTED]"},
		{"prefix is case-sensitive", nil, "GLPAT-abc", "GLPAT-abc"},
		{"prefix alone", nil, "the glpat- prefix", "the glpat- prefix"},
		{"zero value", &Redactor{}, "glpat-abc\n", `[REDACTED]\n`},
		{"configured secret", withSecret, "basic auth hunter2-secret failed", "basic auth [REDACTED] failed"},
		{"secret and token", withSecret, "hunter2-secret glpat-1", "[REDACTED] [REDACTED]"},
		{"repeated secret", withSecret, "hunter2-secrethunter2-secret!", "[REDACTED]!"},
		{"overlapping secrets", New("abcdef", "defghi"), "xabcdefghiy", "x[REDACTED]y"},
		{"secret trimmed", New("  tok-1234\n"), "Bearer tok-1234", "Bearer [REDACTED]"},
		{"short secret ignored", New("", "abc"), "abcdef", "abcdef"},
		{"secret around a control char", New("ab\ncd-secret"), "x ab\ncd-secret y", "x [REDACTED] y"},
		{"ESC sequence", nil, "a\x1b[31mred\x1b[0m", `a\x1b[31mred\x1b[0m`},
		{"forged log line", nil, "ok\nlevel=ERROR msg=forged", `ok\nlevel=ERROR msg=forged`},
		{"CR tab NUL DEL", nil, "a\rb\tc\x00d\x7f", `a\rb\tc\x00d\x7f`},
		{"C1 controls", nil, "a\u0085b\u009b31m", `a\u0085b\u009b31m`},
		{"bidi", nil, "abc\u202etxt.exe\u2066x\u2069", `abc\u202etxt.exe\u2066x\u2069`},
		{"line separators", nil, "a\u2028b\u2029c", `a\u2028b\u2029c`},
		{"invalid UTF-8", nil, "a\xffb\xc3", "a\uFFFDb\uFFFD"},
		{"printable Unicode kept", nil, "héllo 世界 \\n", "héllo 世界 \\n"},
	} {
		if got := c.r.String(c.in); got != c.want {
			t.Errorf("%s: String(%q) = %q, want %q", c.name, c.in, got, c.want)
		}
	}
}

func TestError(t *testing.T) {
	var r *Redactor
	if got := r.Error(nil); got != "" {
		t.Errorf("Error(nil) = %q, want empty", got)
	}
	err := errors.New("GET /api/v4/events: glpat-secret\nlevel=ERROR")
	if got, want := r.Error(err), `GET /api/v4/events: [REDACTED]\nlevel=ERROR`; got != want {
		t.Errorf("Error = %q, want %q", got, want)
	}
}

func TestExcerpt(t *testing.T) {
	r := New("supersecretvalue")
	for _, c := range []struct {
		name  string
		body  string
		limit int
		want  string
	}{
		{"short body", "short", 100, "short"},
		{"white space trimmed", "  {\"message\":\"401 Unauthorized\"}\n", 100, `{"message":"401 Unauthorized"}`},
		{"empty", "", 10, ""},
		{"limit zero", "abc", 0, "…"},
		{"cut", "abcdef", 3, "abc…"},
		{"rune not split", "héllo", 2, "h…"},
		{"escaped after cut", "a\nb\nc", 3, `a\nb…`},
		{"ESC at the cut", "ab\x1b[31m", 3, `ab\x1b…`},
		{"token hidden, then measured", "echo: PRIVATE-TOKEN: glpat-0123456789abcdef", 32, "echo: PRIVATE-TOKEN: [REDACTED]"},
		{"token split by cut", "echo: PRIVATE-TOKEN: glpat-0123456789abcdef", 26, "echo: PRIVATE-TOKEN: [REDA…"},
		{"token split inside", "aaaa glpat-0123456789abcdef tail", 12, "aaaa [REDACT…"},
		{"secret split by cut", "x supersecretvalue y", 8, "x [REDAC…"},
		{"token after cut", "aaaa glpat-0123456789abcdef", 4, "aaaa…"},
	} {
		got := r.Excerpt([]byte(c.body), c.limit)
		if got != c.want {
			t.Errorf("%s: Excerpt(%q, %d) = %q, want %q", c.name, c.body, c.limit, got, c.want)
		}
		for _, half := range []string{"glpat", "0123", "cdef", "super", "value"} {
			if strings.Contains(got, half) {
				t.Errorf("%s: Excerpt(%q, %d) = %q leaks %q", c.name, c.body, c.limit, got, half)
			}
		}
	}
}

func TestExcerptBound(t *testing.T) {
	var all []byte
	for b := range 256 {
		all = append(all, byte(b))
	}
	bodies := [][]byte{
		all,
		bytes.Repeat([]byte("\x1b"), 100),
		bytes.Repeat([]byte("\u202e\u0085"), 50),
		bytes.Repeat([]byte{0xff}, 100),
		bytes.Repeat([]byte("世"), 50),
	}
	var r *Redactor
	for _, body := range bodies {
		for limit := 0; limit <= 120; limit++ {
			got := r.Excerpt(body, limit)
			if len(got) > 4*limit+3 {
				t.Errorf("Excerpt(%q, %d) = %d bytes, more than 4*limit+3", body, limit, len(got))
			}
			if !strings.HasSuffix(got, "…") && len(body) > limit {
				t.Errorf("Excerpt(%q, %d) = %q: cut without …", body, limit, got)
			}
		}
	}
}

type tokenStringer struct{}

func (tokenStringer) String() string { return "stringer glpat-STRINGER" }

type tokenValuer struct{}

func (tokenValuer) LogValue() slog.Value { return slog.StringValue("valuer glpat-VALUER\n") }

type count int

func TestHandler(t *testing.T) {
	for _, c := range []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
		{"json", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(New("hunter2-secret").Handler(c.new(&buf)))
			log.Error("failed glpat-MESSAGE\nlevel=ERROR msg=forged",
				"body", "PRIVATE-TOKEN: glpat-BODY\r\n",
				"err", errors.New("x glpat-ERROR \x1b[31m"),
				slog.Group("g", "inner", "hunter2-secret", slog.Group("deeper", "tok", "glpat-DEEP")),
				"stringer", tokenStringer{},
				"valuer", tokenValuer{},
				"struct", struct{ Tok string }{"glpat-STRUCT"},
				"bytes", []byte("glpat-BYTES"),
				"n", 42, "named", count(7), "d", time.Second, "ok", true)
			log.With("with", "glpat-WITH\n", slog.Group("wg", "x", "hunter2-secret")).
				WithGroup("grp").
				Info("m", "k", "v\nglpat-GROUPED")
			var nilR *Redactor
			slog.New(nilR.Handler(c.new(&buf))).Warn("nil redactor glpat-NIL\n")

			out := buf.String()
			for _, leak := range []string{"glpat-", "hunter2", "\x1b", "\r"} {
				if strings.Contains(out, leak) {
					t.Errorf("output contains %q:\n%s", leak, out)
				}
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != 3 {
				t.Fatalf("got %d lines, want one per record:\n%s", len(lines), out)
			}
			if n := strings.Count(out, Redacted); n != 13 {
				t.Errorf("got %d %s, want 13:\n%s", n, Redacted, out)
			}
			if c.name == "text" {
				for _, want := range []string{"n=42", "named=7", "d=1s", "ok=true", "g.deeper.tok=[REDACTED]", "grp.k=", "wg.x=[REDACTED]"} {
					if !strings.Contains(out, want) {
						t.Errorf("output lacks %q:\n%s", want, out)
					}
				}
				return
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
				t.Fatal(err)
			}
			if rec["n"] != 42.0 || rec["named"] != 7.0 || rec["ok"] != true || rec["d"] != float64(time.Second) {
				t.Errorf("non-text values changed: n=%v named=%v ok=%v d=%v", rec["n"], rec["named"], rec["ok"], rec["d"])
			}
			if got, want := rec["msg"], `failed [REDACTED]\nlevel=ERROR msg=forged`; got != want {
				t.Errorf("msg = %q, want %q", got, want)
			}
		})
	}
}
