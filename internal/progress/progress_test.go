package progress

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/labtrail/labtrail/extract"
	"github.com/labtrail/labtrail/internal/pipeline"
)

func TestScratch(t *testing.T) {
	c, err := extract.NewClient(extract.Options{BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	stop := Start(&buf, Bars, pipeline.NewProgress(), c, slog.Default(), nil)
	time.Sleep(700 * time.Millisecond)
	stop()
	t.Logf("%q", buf.String())
}
