package relay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/relaywire"
)

// openStream starts a stream call after after and returns its frames'
// reader.
func openStream(t *testing.T, hs *httptest.Server, after string) *bufio.Reader {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, hs.URL+relaywire.Path("log", relaywire.CallStream)+"?after="+after, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != relaywire.ContentTypeStream {
		t.Fatalf("stream answered %s, %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	return bufio.NewReader(resp.Body)
}

// nextPage reads frames until a page and returns its update ids.
func nextPage(t *testing.T, r *bufio.Reader) []uint64 {
	t.Helper()
	for {
		f, err := relaywire.ReadFrame(r, 1<<20)
		if err != nil {
			t.Fatalf("read a frame: %v", err)
		}
		switch f.Kind {
		case relaywire.FrameTick:
			continue
		case relaywire.FrameError:
			t.Fatalf("error frame: %s", f.Body)
		}
		page, err := relaywire.DecodePage(f.Body)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]uint64, len(page))
		for i, u := range page {
			ids[i] = u.ID
		}
		if len(ids) == 0 || f.Latest < ids[len(ids)-1] {
			t.Fatalf("page frame with ids %v and latest %d", ids, f.Latest)
		}
		return ids
	}
}

func appendN(t *testing.T, hs *httptest.Server, n int) {
	t.Helper()
	for range n {
		body := relaywire.AppendOps(nil, []logstore.Op{logstore.Set([]byte("k"), []byte("v"))})
		if status, code, b := doCall(t, hs, http.MethodPost, relaywire.Path("log", relaywire.CallAppend), testToken, body); status != http.StatusOK {
			t.Fatalf("append: %d %s %s", status, code, b)
		}
	}
}

// TestStream follows the log: the pages after the stream's position come
// in order, without gaps, as the log grows, from the newest updates the
// relay holds (no store read); at one frame a second (one stream,
// MaxFrameRate 1), the updates that come while a frame is due go in the
// next one together.
func TestStream(t *testing.T) {
	srv, hs := newTestServer(t, Config{MaxFrameRate: 1})
	appendN(t, hs, 2)
	r := openStream(t, hs, "0")
	if got := nextPage(t, r); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("first page %v, want [1 2]", got)
	}
	// The next frame is due a second after the first: three appends made
	// at once all come in it.
	appendN(t, hs, 3)
	if got := nextPage(t, r); !slices.Equal(got, []uint64{3, 4, 5}) {
		t.Fatalf("second page %v, want [3 4 5] in one frame", got)
	}
	if st := srv.Stats(); st.PageLoads != 0 || st.RecentHits < 2 {
		t.Errorf("%d pages read from the store and %d taken from the newest updates, want 0 and at least 2", st.PageLoads, st.RecentHits)
	}
}

// TestStreamBelowHorizon ends a stream whose position the horizon has
// passed with an error frame that names it.
func TestStreamBelowHorizon(t *testing.T) {
	_, hs := newTestServer(t, Config{})
	appendN(t, hs, 3)
	body := []byte(`{"through":2,"deleteLimit":2,"batchSize":10}`)
	if status, code, b := doCall(t, hs, http.MethodPost, relaywire.Path("log", relaywire.CallRewrite), testToken, body); status != http.StatusOK {
		t.Fatalf("rewrite: %d %s %s", status, code, b)
	}
	r := openStream(t, hs, "1")
	for {
		f, err := relaywire.ReadFrame(r, 1<<20)
		if err != nil {
			t.Fatalf("read a frame: %v", err)
		}
		if f.Kind == relaywire.FrameTick {
			continue
		}
		if f.Kind != relaywire.FrameError || !bytes.Contains(f.Body, []byte(relaywire.CodeBehindHorizon)) {
			t.Fatalf("frame %q %s, want an error frame with %s", f.Kind, f.Body, relaywire.CodeBehindHorizon)
		}
		break
	}
	if _, err := relaywire.ReadFrame(r, 1<<20); !errors.Is(err, io.EOF) {
		t.Fatalf("after the error frame: %v, want the end of the stream", err)
	}
}
