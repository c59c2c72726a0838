package agentapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The request types decode strictly: encoding/json matches field names
// case-insensitively, keeps the last of duplicated fields and (without
// DisallowUnknownFields) ignores unknown ones, so a misspelt field ("Value",
// "wiat") would silently change a write. Each error names the field.

// UnmarshalJSON decodes an Op strictly: the fields op, key and value, each
// at most once, with these exact names.
func (o *Op) UnmarshalJSON(data []byte) error {
	ms, err := objectMembers(data, "an operation")
	if err != nil || ms == nil {
		return err
	}
	var out Op
	for _, m := range ms {
		switch m.key {
		case "op":
			err = decodeField(m, &out.Op)
		case "key":
			err = decodeField(m, &out.Key)
		case "value":
			err = decodeField(m, &out.Value)
		}
		if err != nil {
			return err
		}
	}
	*o = out
	return nil
}

// UnmarshalJSON decodes an UpdateRequest strictly: the fields ops and wait.
func (r *UpdateRequest) UnmarshalJSON(data []byte) error {
	ms, err := objectMembers(data, "an update")
	if err != nil || ms == nil {
		return err
	}
	var out UpdateRequest
	for _, m := range ms {
		switch m.key {
		case "ops":
			err = decodeArray(m, &out.Ops)
		case "wait":
			err = decodeField(m, &out.Wait)
		}
		if err != nil {
			return err
		}
	}
	*r = out
	return nil
}

// UnmarshalJSON decodes a BatchRequest strictly: the field updates.
func (r *BatchRequest) UnmarshalJSON(data []byte) error {
	ms, err := objectMembers(data, "a batch")
	if err != nil || ms == nil {
		return err
	}
	var out BatchRequest
	for _, m := range ms {
		if m.key == "updates" {
			if err := decodeArray(m, &out.Updates); err != nil {
				return err
			}
		}
	}
	*r = out
	return nil
}

// MarshalJSON writes a failed result as {"error": ...} alone: an update id
// of 0 would read as an id.
func (r BatchResult) MarshalJSON() ([]byte, error) {
	if r.Error != nil {
		return json.Marshal(struct {
			Error *ErrorResponse `json:"error"`
		}{r.Error})
	}
	return json.Marshal(r.UpdateResponse)
}

// fields lists the JSON fields of each strictly decoded object.
var fields = map[string][]string{
	"an operation": {"op", "key", "value"},
	"an update":    {"ops", "wait"},
	"a batch":      {"updates"},
}

// member is one field of a JSON object: its name and its value's text.
type member struct {
	key   string
	value []byte
}

// objectMembers returns the fields of the JSON object data, checked against
// what's fields: none unknown, none twice. A JSON null gives nil, nil.
func objectMembers(data []byte, what string) ([]member, error) {
	s := scanner{data: data}
	s.space()
	if s.literal("null") {
		return nil, nil
	}
	ms, err := s.object()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	allowed := fields[what]
	seen := make(map[string]bool, len(ms))
	for _, m := range ms {
		switch {
		case seen[m.key]:
			return nil, fmt.Errorf("%s: field %q given twice", what, m.key)
		case !contains(allowed, m.key):
			return nil, unknownField(what, m.key, allowed)
		}
		seen[m.key] = true
	}
	if ms == nil {
		ms = []member{}
	}
	return ms, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func unknownField(what, key string, allowed []string) error {
	for _, f := range allowed {
		if strings.EqualFold(f, key) {
			return fmt.Errorf("%s: unknown field %q (field names are case-sensitive: %q)", what, key, f)
		}
	}
	return fmt.Errorf("%s: unknown field %q (want %s)", what, key, strings.Join(allowed, ", "))
}

// decodeField decodes one field's value, naming the field in its error.
func decodeField(m member, v any) error {
	if err := json.Unmarshal(m.value, v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return fmt.Errorf("field %q: a JSON %s where %s belongs", m.key, te.Value, jsonKind(v))
		case strings.Contains(err.Error(), "base64"):
			return fmt.Errorf("field %q: not base64 (standard, padded): %w", m.key, err)
		}
		return fmt.Errorf("field %q: %w", m.key, err)
	}
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case *string:
		return "a string"
	case *bool:
		return "true or false"
	case *[]byte:
		return "a base64 string"
	}
	return "another type"
}

// decodeArray decodes an array field element by element, naming the
// element in its error.
func decodeArray[T any, PT interface {
	*T
	json.Unmarshaler
}](m member, out *[]T) error {
	s := scanner{data: m.value}
	s.space()
	if s.literal("null") {
		*out = nil
		return nil
	}
	elems, err := s.array()
	if err != nil {
		return fmt.Errorf("field %q: %w", m.key, err)
	}
	res := make([]T, len(elems))
	for i, e := range elems {
		if err := PT(&res[i]).UnmarshalJSON(e); err != nil {
			return fmt.Errorf("%s[%d]: %w", m.key, i, err)
		}
	}
	*out = res
	return nil
}
