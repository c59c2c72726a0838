package relaywire

import (
	"bufio"
	"bytes"
	"errors"
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
	})
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
