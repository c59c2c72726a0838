package relaywire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	frames := []Frame{
		{Kind: FrameTick, Latest: 0},
		{Kind: FramePage, Latest: 1 << 63, Body: AppendPage(nil, nil)},
		{Kind: FrameTick, Latest: 300},
		{Kind: FrameError, Latest: 7, Body: []byte(`{"code":"behind_horizon","message":"m"}`)},
	}
	var b []byte
	for _, f := range frames {
		b = AppendFrame(b, f.Kind, f.Latest, f.Body)
	}
	r := bufio.NewReader(bytes.NewReader(b))
	for i, want := range frames {
		got, err := ReadFrame(r, 1<<10)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("frame %d: got %+v, want %+v", i, got, want)
		}
	}
	if _, err := ReadFrame(r, 1<<10); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestReadFrameErrors(t *testing.T) {
	page := AppendFrame(nil, FramePage, 5, []byte("0123456789"))
	tests := []struct {
		name    string
		in      []byte
		maxBody int
		want    error
	}{
		{"unknown kind", []byte{'x', 0, 0}, 10, ErrMalformed},
		{"body over the limit", page, 9, ErrMalformed},
		{"tick with a body", AppendFrame(nil, FrameTick, 1, []byte("x")), 10, ErrMalformed},
		{"varint over 64 bits", []byte{FrameTick, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0}, 10, ErrMalformed},
		{"cut in the header", page[:2], 10, io.ErrUnexpectedEOF},
		{"cut in the body", page[:len(page)-1], 10, io.ErrUnexpectedEOF},
		{"nothing", nil, 10, io.EOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadFrame(bufio.NewReader(bytes.NewReader(tc.in)), tc.maxBody)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ReadFrame: %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzReadFrame feeds arbitrary bytes to ReadFrame: it never panics, never
// returns a body over the limit, and the frames it accepts encode to bytes
// that read back the same.
func FuzzReadFrame(f *testing.F) {
	f.Add(AppendFrame(AppendFrame(nil, FrameTick, 9, nil), FramePage, 10, AppendPage(nil, nil)))
	f.Add([]byte{FrameError, 0x80, 0x80, 0x01, 3, '{', '}', '\n'})
	f.Fuzz(func(t *testing.T, b []byte) {
		const maxBody = 64
		frames := readFrames(t, b, maxBody)
		var again []byte
		for _, fr := range frames {
			if len(fr.Body) > maxBody {
				t.Fatalf("body of %d bytes over the %d allowed", len(fr.Body), maxBody)
			}
			again = AppendFrame(again, fr.Kind, fr.Latest, fr.Body)
		}
		if back := readFrames(t, again, maxBody); !reflect.DeepEqual(back, frames) {
			t.Fatalf("frames %+v re-encoded read back as %+v", frames, back)
		}
		// A FrameReader reads the same frames, and ends with the same error.
		fr := NewFrameReader(bufio.NewReader(bytes.NewReader(b)), maxBody)
		r := bufio.NewReader(bytes.NewReader(b))
		for i := 0; ; i++ {
			got, err := fr.Next()
			want, errW := ReadFrame(r, maxBody)
			if fmt.Sprint(err) != fmt.Sprint(errW) {
				t.Fatalf("frame %d: FrameReader %v, ReadFrame %v", i, err, errW)
			}
			if errW != nil {
				break
			}
			if got.Kind != want.Kind || got.Latest != want.Latest || !bytes.Equal(got.Body, want.Body) {
				t.Fatalf("frame %d: FrameReader %+v, ReadFrame %+v", i, got, want)
			}
		}
	})
}

// TestFrameReader: bodies are read into one buffer, reused while they fit
// and kept only up to keptBody; each frame reads back as written.
func TestFrameReader(t *testing.T) {
	body := func(n int, c byte) []byte { return bytes.Repeat([]byte{c}, n) }
	frames := []Frame{
		{Kind: FramePage, Latest: 1, Body: body(100, 'a')},
		{Kind: FramePage, Latest: 2, Body: body(3000, 'b')},
		{Kind: FrameTick, Latest: 2},
		{Kind: FramePage, Latest: 3, Body: body(10_000, 'c')}, // past the first buffer: a kept one
		{Kind: FramePage, Latest: 4, Body: body(9_000, 'd')},
		{Kind: FramePage, Latest: 5, Body: body(keptBody+1, 'e')}, // too large to keep
		{Kind: FramePage, Latest: 6, Body: body(50, 'f')},
	}
	var b []byte
	for _, f := range frames {
		b = AppendFrame(b, f.Kind, f.Latest, f.Body)
	}
	fr := NewFrameReader(bufio.NewReader(bytes.NewReader(b)), 1<<20)
	var bodies [][]byte
	for i, want := range frames {
		got, err := fr.Next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got.Kind != want.Kind || got.Latest != want.Latest || !bytes.Equal(got.Body, want.Body) {
			t.Fatalf("frame %d: got %c %d %d bytes, want %c %d %d bytes", i, got.Kind, got.Latest, len(got.Body), want.Kind, want.Latest, len(want.Body))
		}
		bodies = append(bodies, got.Body)
	}
	same := func(a, b []byte) bool { return &a[:1][0] == &b[:1][0] }
	switch {
	case !same(bodies[0], bodies[1]):
		t.Error("the second body did not reuse the buffer of the first")
	case same(bodies[1], bodies[3]):
		t.Error("a body larger than the buffer was read into it")
	case !same(bodies[3], bodies[4]):
		t.Error("the larger buffer was not kept for the next body")
	case same(bodies[4], bodies[5]) || !same(bodies[4], bodies[6]):
		t.Error("a body over keptBody replaced the kept buffer")
	}
	if _, err := fr.Next(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

// readFrames reads frames until the first error, which must be one of
// those ReadFrame documents.
func readFrames(t *testing.T, b []byte, maxBody int) []Frame {
	r := bufio.NewReader(bytes.NewReader(b))
	var frames []Frame
	for {
		fr, err := ReadFrame(r, maxBody)
		if err != nil {
			if err != io.EOF && !errors.Is(err, ErrMalformed) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("ReadFrame error %v is none of io.EOF, ErrMalformed, io.ErrUnexpectedEOF", err)
			}
			return frames
		}
		frames = append(frames, fr)
	}
}
