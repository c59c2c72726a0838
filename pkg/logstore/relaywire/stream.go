package relaywire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// CallStream is the call that follows a log: GET stream?after=&max= answers
// with a body that never ends by itself, a sequence of frames (see
// [AppendFrame]). The relay sends a [FramePage] with the page after after,
// then the page after that page's last update, and so on as the log
// grows; a [FrameTick] now and then while nothing is new; and one
// [FrameError] when it cannot go on (the position fell below the horizon,
// say), before it ends the answer. A relay that shuts down just ends it.
const CallStream = "stream"

// ContentTypeStream is the content type of a stream's body.
const ContentTypeStream = "application/x-whycache-relay-stream"

// The kinds of frame.
const (
	// FramePage carries a page (see [AppendPage]): the updates right after
	// the stream's position, which moves to its last update.
	FramePage byte = 'p'
	// FrameTick carries no body: the log's latest id is still Latest.
	FrameTick byte = 't'
	// FrameError carries an [Error] as JSON; the stream ends after it.
	FrameError byte = 'e'
)

// Frame is one frame of a stream.
type Frame struct {
	// Kind is FramePage, FrameTick or FrameError.
	Kind byte
	// Latest is the highest id the relay knew to exist when it sent the
	// frame.
	Latest uint64
	// Body is the page or the error; empty for a tick.
	Body []byte
}

// AppendFrame appends the encoding of a frame to b: its kind byte, Latest
// and the body's length as varints, and the body.
func AppendFrame(b []byte, kind byte, latest uint64, body []byte) []byte {
	b = append(b, kind)
	b = binary.AppendUvarint(b, latest)
	b = binary.AppendUvarint(b, uint64(len(body)))
	return append(b, body...)
}

// ReadFrame reads the next frame from r, whose body may take at most
// maxBody bytes. It returns io.EOF when the stream ends between frames;
// any other malformation matches ErrMalformed, and a stream cut inside a
// frame returns io.ErrUnexpectedEOF.
func ReadFrame(r *bufio.Reader, maxBody int) (Frame, error) {
	return readFrame(r, maxBody, nil)
}

// readFrame is ReadFrame reading the body into buf when it fits.
func readFrame(r *bufio.Reader, maxBody int, buf []byte) (Frame, error) {
	kind, err := r.ReadByte()
	if err != nil {
		return Frame{}, err // io.EOF between frames: the stream ended
	}
	switch kind {
	case FramePage, FrameTick, FrameError:
	default:
		return Frame{}, fmt.Errorf("frame of kind %q: %w", kind, ErrMalformed)
	}
	latest, err := readUvarint(r, "latest id")
	if err != nil {
		return Frame{}, err
	}
	n, err := readUvarint(r, "body length")
	if err != nil {
		return Frame{}, err
	}
	if n > uint64(maxBody) {
		return Frame{}, fmt.Errorf("frame body of %d bytes is over the %d allowed: %w", n, maxBody, ErrMalformed)
	}
	if kind == FrameTick && n != 0 {
		return Frame{}, fmt.Errorf("tick frame with a body of %d bytes: %w", n, ErrMalformed)
	}
	f := Frame{Kind: kind, Latest: latest}
	if n > 0 {
		if uint64(cap(buf)) >= n {
			f.Body = buf[:n]
		} else {
			f.Body = make([]byte, n)
		}
		if _, err := io.ReadFull(r, f.Body); err != nil {
			return Frame{}, cutShort("body", err)
		}
	}
	return f, nil
}

// FrameReader reads the frames of a stream as ReadFrame does, reading
// their bodies into one buffer it keeps: a stream brings a frame for every
// few writes, and a new body each time is garbage each time.
type FrameReader struct {
	r       *bufio.Reader
	maxBody int
	buf     []byte
}

// keptBody is the largest body buffer a FrameReader keeps between frames:
// the odd large frame (a catch-up page) gets a buffer of its own rather
// than pinning megabytes to every stream for its life.
const keptBody = 64 << 10

// NewFrameReader returns a FrameReader of r whose frames' bodies may take
// at most maxBody bytes.
func NewFrameReader(r *bufio.Reader, maxBody int) *FrameReader {
	return &FrameReader{r: r, maxBody: maxBody, buf: make([]byte, 0, 4<<10)}
}

// Next reads the next frame, as ReadFrame does. Its Body is valid until
// the next call of Next: decode it (DecodePage copies what it keeps) or
// copy it before then.
func (fr *FrameReader) Next() (Frame, error) {
	f, err := readFrame(fr.r, fr.maxBody, fr.buf)
	if err == nil && cap(f.Body) > cap(fr.buf) && cap(f.Body) <= keptBody {
		fr.buf = f.Body[:0]
	}
	return f, err
}

// readUvarint reads a varint of a frame; unlike binary.ReadUvarint it
// tells a malformed varint from a failed read.
func readUvarint(r *bufio.Reader, part string) (uint64, error) {
	var v uint64
	for i := range binary.MaxVarintLen64 {
		b, err := r.ReadByte()
		if err != nil {
			return 0, cutShort(part, err)
		}
		if i == binary.MaxVarintLen64-1 && b > 1 {
			return 0, fmt.Errorf("frame %s: varint over 64 bits: %w", part, ErrMalformed)
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return v, nil
		}
	}
	return 0, fmt.Errorf("frame %s: varint over 64 bits: %w", part, ErrMalformed)
}

// cutShort describes a failed read inside a frame: the end of the stream
// there is io.ErrUnexpectedEOF.
func cutShort(part string, err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("frame %s: %w", part, err)
}
