package agentapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestStrictDecoding(t *testing.T) {
	tests := []struct {
		name string
		body string
		want UpdateRequest // when err is ""
		err  string        // a part of the error
	}{
		{"set", `{"ops":[{"op":"set","key":"YQ==","value":"MQ=="}],"wait":true}`,
			UpdateRequest{Ops: []Op{{Op: "set", Key: []byte("a"), Value: []byte("1")}}, Wait: true}, ""},
		{"delete, spaces", " {\n \"ops\" : [ { \"op\" : \"delete\" , \"key\" : \"YQ==\" } ] } ",
			UpdateRequest{Ops: []Op{{Op: "delete", Key: []byte("a")}}}, ""},
		{"escaped field name", `{"\u006fps":[]}`, UpdateRequest{Ops: []Op{}}, ""},
		{"null value", `{"ops":[{"op":"set","key":"YQ==","value":null}]}`, UpdateRequest{Ops: []Op{{Op: "set", Key: []byte("a")}}}, ""},
		{"null ops", `{"ops":null}`, UpdateRequest{}, ""},
		{"empty object", `{}`, UpdateRequest{}, ""},
		{"case of a request field", `{"Ops":[]}`, UpdateRequest{}, `unknown field "Ops" (field names are case-sensitive: "ops")`},
		{"case of an op field", `{"ops":[{"op":"set","key":"YQ==","Value":"MQ=="}]}`, UpdateRequest{}, `ops[0]: an operation: unknown field "Value"`},
		{"duplicate field", `{"ops":[{"op":"set","key":"YQ==","key":"Yg=="}]}`, UpdateRequest{}, `field "key" given twice`},
		{"duplicate request field", `{"wait":false,"ops":[],"wait":true}`, UpdateRequest{}, `field "wait" given twice`},
		{"unknown field", `{"ops":[],"wiat":true}`, UpdateRequest{}, `unknown field "wiat" (want ops, wait)`},
		{"bad base64 key", `{"ops":[{"op":"set","key":"!!"}]}`, UpdateRequest{}, `ops[0]: field "key": not base64`},
		{"bad base64 value", `{"ops":[{"op":"set","key":"YQ==","value":"YQ"}]}`, UpdateRequest{}, `ops[0]: field "value": not base64`},
		{"wrong type", `{"ops":[{"op":1,"key":"YQ=="}]}`, UpdateRequest{}, `field "op": a JSON number where a string belongs`},
		{"ops not an array", `{"ops":{}}`, UpdateRequest{}, `field "ops": want a JSON array`},
		{"op not an object", `{"ops":[1]}`, UpdateRequest{}, `ops[0]: an operation: want a JSON object`},
		{"wait a string", `{"wait":"yes"}`, UpdateRequest{}, `field "wait": a JSON string where true or false belongs`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got UpdateRequest
			err := json.Unmarshal([]byte(tt.body), &got)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one with %q", err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestStrictBatchDecoding(t *testing.T) {
	var b BatchRequest
	if err := json.Unmarshal([]byte(`{"updates":[{"ops":[]},{"ops":[{"op":"set","key":"YQ=="}]}]}`), &b); err != nil || len(b.Updates) != 2 {
		t.Fatalf("got %+v, %v", b, err)
	}
	for body, want := range map[string]string{
		`{"Updates":[]}`: `unknown field "Updates"`,
		`{"updates":[{"ops":[]},{"ops":[{"op":"set","key":"YQ==","KEY":"YQ=="}]}]}`: `updates[1]: ops[0]: an operation: unknown field "KEY"`,
		`{"updates":[],"updates":[]}`: `field "updates" given twice`,
	} {
		if err := json.Unmarshal([]byte(body), &b); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one with %q", body, err, want)
		}
	}
}

func TestBatchResultJSON(t *testing.T) {
	tests := []struct {
		in   BatchResult
		want string
	}{
		{BatchResult{UpdateResponse: UpdateResponse{UpdateID: 7, Applied: true}}, `{"update_id":7,"applied":true}`},
		{BatchResult{Error: &ErrorResponse{Code: CodeInvalid, Error: "bad"}}, `{"error":{"code":"invalid","error":"bad"}}`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(tt.in)
		if err != nil || string(got) != tt.want {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

// FuzzScanner checks that the strict decoders never panic on any input, and
// agree with encoding/json on what is valid JSON.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{`{"ops":[{"op":"set","key":"YQ=="}]}`, `{"ops":[`, `{"a":"\"}`, `[[[[`, `{"ops":[{"op":"x","key":"\u0041"}],"wait":true}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r UpdateRequest
		err := r.UnmarshalJSON(data)
		if err == nil && !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		var b BatchRequest
		_ = b.UnmarshalJSON(data)
	})
}
