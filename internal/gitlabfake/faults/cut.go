package faults

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"strconv"
)

// held is an answer kept back from the client so that it can be cut.
type held struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (h *held) Header() http.Header { return h.header }

func (h *held) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}

func (h *held) Write(p []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return h.body.Write(p)
}

// cut serves next into a held answer and sends it cut halfway if it is a
// 200 with a body, or whole otherwise.
func (f *Faults) cut(w http.ResponseWriter, r *http.Request, next http.Handler, kind Fault) {
	h := &held{header: http.Header{}}
	next.ServeHTTP(h, r)
	for k, v := range h.header {
		w.Header()[k] = v
	}
	if h.status == 0 {
		h.status = http.StatusOK
	}
	if h.status != http.StatusOK || h.body.Len() == 0 {
		w.WriteHeader(h.status)
		w.Write(h.body.Bytes())
		return
	}
	if kind == cutNext {
		kind = CutJSON
		if f.cutN.Add(1)%2 == 1 {
			kind = CutShort
		}
	}
	full := h.body.Bytes()
	if kind == CutShort {
		cutShort(w, r, full)
		return
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(http.StatusOK)
	w.Write(full[:len(full)/2])
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
}

// cutShort announces the whole body's Content-Length, sends half of it and
// drops the connection.
func cutShort(w http.ResponseWriter, r *http.Request, full []byte) {
	half := full[:len(full)/2]
	w.Header().Set("Content-Length", strconv.Itoa(len(full)))
	if hj, ok := w.(http.Hijacker); ok && r.ProtoMajor == 1 {
		conn, buf, err := hj.Hijack()
		if err == nil {
			defer conn.Close()
			writeRawHead(buf, r, w.Header())
			buf.Write(half)
			buf.Flush()
			return
		}
	}
	w.WriteHeader(http.StatusOK)
	w.Write(half)
	if r.ProtoMajor >= 2 {
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		panic(http.ErrAbortHandler)
	}
	// A recorder: there is no connection to abort.
}

func writeRawHead(buf *bufio.ReadWriter, r *http.Request, h http.Header) {
	fmt.Fprintf(buf, "HTTP/1.%d 200 OK\r\n", r.ProtoMinor)
	h.Set("Connection", "close")
	h.Write(buf)
	buf.WriteString("\r\n")
}
