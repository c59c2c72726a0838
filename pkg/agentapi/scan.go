package agentapi

import (
	"encoding/json"
	"errors"
	"fmt"
)

// errSyntax is a JSON value that the scanner cannot read. encoding/json
// hands the request types only valid JSON; the scanner checks anyway.
var errSyntax = errors.New("malformed JSON")

// maxDepth bounds the nesting the scanner follows.
const maxDepth = 64

// scanner finds the boundaries of JSON values in data without copying them,
// so that the fields of an object can be checked before they are decoded.
type scanner struct {
	data  []byte
	i     int
	depth int
}

func (s *scanner) space() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// literal consumes lit when it is all that is left (apart from space).
func (s *scanner) literal(lit string) bool {
	rest := s.data[s.i:]
	if len(rest) < len(lit) || string(rest[:len(lit)]) != lit {
		return false
	}
	t := scanner{data: s.data, i: s.i + len(lit)}
	t.space()
	if t.i != len(s.data) {
		return false
	}
	s.i = t.i
	return true
}

func (s *scanner) peek() byte {
	if s.i < len(s.data) {
		return s.data[s.i]
	}
	return 0
}

func (s *scanner) expect(c byte) error {
	s.space()
	if s.peek() != c {
		return fmt.Errorf("%w: want %q at byte %d", errSyntax, c, s.i)
	}
	s.i++
	return nil
}

// object reads a whole object (all that is left of data) and returns its
// members, their names unescaped.
func (s *scanner) object() ([]member, error) {
	s.space()
	if s.peek() != '{' {
		return nil, errors.New("want a JSON object")
	}
	var ms []member
	err := s.container('{', '}', func() error {
		s.space()
		raw, err := s.str()
		if err != nil {
			return err
		}
		var key string
		if err := json.Unmarshal(raw, &key); err != nil {
			return fmt.Errorf("%w: field name: %w", errSyntax, err)
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		v, err := s.value()
		ms = append(ms, member{key: key, value: v})
		return err
	})
	return ms, s.end(err)
}

// array reads a whole array (all that is left of data) and returns its
// elements.
func (s *scanner) array() ([][]byte, error) {
	s.space()
	if s.peek() != '[' {
		return nil, errors.New("want a JSON array")
	}
	var out [][]byte
	err := s.container('[', ']', func() error {
		v, err := s.value()
		out = append(out, v)
		return err
	})
	return out, s.end(err)
}

// end checks that nothing but space follows the value just read.
func (s *scanner) end(err error) error {
	if err != nil {
		return err
	}
	s.space()
	if s.i != len(s.data) {
		return fmt.Errorf("%w: data after the value at byte %d", errSyntax, s.i)
	}
	return nil
}

// container reads open, items separated by commas, and close.
func (s *scanner) container(open, close byte, item func() error) error {
	if s.depth++; s.depth > maxDepth {
		return fmt.Errorf("%w: nested more than %d deep", errSyntax, maxDepth)
	}
	defer func() { s.depth-- }()
	if err := s.expect(open); err != nil {
		return err
	}
	s.space()
	if s.peek() == close {
		s.i++
		return nil
	}
	for {
		if err := item(); err != nil {
			return err
		}
		s.space()
		switch s.peek() {
		case ',':
			s.i++
		case close:
			s.i++
			return nil
		default:
			return fmt.Errorf("%w: want ',' or %q at byte %d", errSyntax, close, s.i)
		}
	}
}

// value skips one value and returns its text.
func (s *scanner) value() ([]byte, error) {
	s.space()
	start := s.i
	var err error
	switch s.peek() {
	case '{':
		err = s.container('{', '}', func() error {
			s.space()
			if _, err := s.str(); err != nil {
				return err
			}
			if err := s.expect(':'); err != nil {
				return err
			}
			_, err := s.value()
			return err
		})
	case '[':
		err = s.container('[', ']', func() error { _, err := s.value(); return err })
	case '"':
		_, err = s.str()
	case 0:
		err = fmt.Errorf("%w: unexpected end", errSyntax)
	default:
		s.scalar()
		if s.i == start {
			err = fmt.Errorf("%w: unexpected %q at byte %d", errSyntax, s.peek(), s.i)
		}
	}
	return s.data[start:s.i], err
}

// str skips a string and returns its text, quotes included.
func (s *scanner) str() ([]byte, error) {
	start := s.i
	if s.peek() != '"' {
		return nil, fmt.Errorf("%w: want a string at byte %d", errSyntax, s.i)
	}
	for s.i++; s.i < len(s.data); s.i++ {
		switch s.data[s.i] {
		case '\\':
			s.i++
		case '"':
			s.i++
			return s.data[start:s.i], nil
		}
	}
	return nil, fmt.Errorf("%w: unterminated string", errSyntax)
}

// scalar skips a number, true, false or null (json.Unmarshal checks it).
func (s *scanner) scalar() {
	for s.i < len(s.data) {
		switch c := s.data[s.i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'E':
			s.i++
		default:
			return
		}
	}
}
