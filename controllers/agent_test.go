package controllers

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
)

func TestSnapshotURL(t *testing.T) {
	for _, tc := range []struct {
		spec whycachev1.SnapshotSpec
		want string
	}{
		{whycachev1.SnapshotSpec{Bucket: "b", Prefix: "whycache"}, "s3://b/whycache"},
		{whycachev1.SnapshotSpec{Bucket: "b", Prefix: "a/b", Region: "us-east-1"}, "s3://b/a/b?region=us-east-1"},
		{whycachev1.SnapshotSpec{Bucket: "b", Prefix: "p", Endpoint: "https://s3.local:9000", PathStyle: true},
			"s3://b/p?endpoint=https%3A%2F%2Fs3.local%3A9000&path-style=true"},
	} {
		if got := snapshotURL(&tc.spec); got != tc.want {
			t.Errorf("snapshotURL(%+v) = %q, want %q", tc.spec, got, tc.want)
		}
	}
}

func TestGoMemLimit(t *testing.T) {
	for _, tc := range []struct {
		limit string
		want  string
	}{
		{"", ""},
		{"1Gi", "966367638"},
		{"100M", "90000000"},
	} {
		r := corev1.ResourceRequirements{}
		if tc.limit != "" {
			r.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(tc.limit)}
		}
		if got := goMemLimit(r); got != tc.want {
			t.Errorf("goMemLimit(%q) = %q, want %q", tc.limit, got, tc.want)
		}
	}
}

func TestJobName(t *testing.T) {
	inst := &whycachev1.WhycacheInstance{}
	inst.Name = "flags"
	at := mustTime(t, "2026-01-01T10:00:00Z")
	if got, want := jobName(inst, kindSnapshot, at), "flags-snapshot-29454360"; got != want {
		t.Errorf("jobName = %q, want %q", got, want)
	}
	// The longest instance name the CRD allows still gives a valid label
	// value (63 characters at most).
	inst.Name = "a234567890123456789012345678901234567890"
	if n := len(jobName(inst, kindSnapshot, at)); n > 63 {
		t.Errorf("job name of %d characters", n)
	}
}

func TestAgentWriteArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    whycachev1.WritesSpec
		want []string // in agentArgs, in any order
		none []string // flag prefixes that must be absent
	}{
		{name: "defaults", none: []string{"--socket-mode=", "--socket-group=", "--max-inflight-bytes=", "--max-write-conns=", "--write-timeout="}},
		{name: "a group's socket", w: whycachev1.WritesSpec{SocketMode: "0660", SocketGroup: ptr.To[int64](4000)},
			want: []string{"--socket-mode=0660", "--socket-group=4000"}, none: []string{"--max-inflight-bytes="}},
		{name: "group 0", w: whycachev1.WritesSpec{SocketMode: "660", SocketGroup: ptr.To[int64](0)},
			want: []string{"--socket-mode=660", "--socket-group=0"}},
		{name: "bounds", w: whycachev1.WritesSpec{MaxInFlightBytes: 256 << 20, MaxConnections: 1024, Timeout: &metav1.Duration{Duration: 2 * time.Minute}},
			want: []string{"--max-inflight-bytes=268435456", "--max-write-conns=1024", "--write-timeout=2m0s"}, none: []string{"--socket-mode="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst := &whycachev1.WhycacheInstance{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "flags"}}
			inst.Spec.Agent.Writes = tc.w
			args := agentArgs(inst)
			for _, a := range tc.want {
				if !slices.Contains(args, a) {
					t.Errorf("args %v lack %s", args, a)
				}
			}
			for _, p := range tc.none {
				for _, a := range args {
					if strings.HasPrefix(a, p) {
						t.Errorf("args %v have %s", args, a)
					}
				}
			}
		})
	}
}
